"""Batch norm on the CPU: :mod:`emsm_np.functional.batch_norm` in channel slices on worker threads.

The same values as the reference (``tests/test_cpu_routes.py``). Every statistic
is per channel, so the channels split between threads with no sum crossing
them (:mod:`emsm_np.cpu.threads`). Each slice works in a few fused passes into
preallocated outputs: the per-channel sums are ``einsum`` contractions of an
(N, C, S) view (no ``x * x`` temporary), and ``x_hat`` is never stored (its
factor ``1/sqrt(var + eps)`` is folded into per-channel scales). The statistics
are summed in two levels: in x's dtype over each image's S pixels (pairwise
summation, a few hundred values), then in float64 over the N images. That is
as accurate as the reference's float64 sums for float32 inputs, at float32's
speed (a float64 sum over every value casts every value).
"""
import numpy as np

from ..functional.batch_norm import BatchNormCache, RunningStats, check_bn_backward
from .threads import for_slices


def _channel_dot(a, b):
    """Per-channel sum of ``a * b`` over every axis but 1, as a (C,) array, in one fused pass."""
    N, C = a.shape[:2]
    return np.einsum("ncs,ncs->c", a.reshape(N, C, -1), b.reshape(N, C, -1))


def _channel_stat(a, b=None):
    """Per-channel sum of ``a`` (or of ``a * b``) in float64: per image in a's dtype, then over images."""
    N, C = a.shape[:2]
    a3 = a.reshape(N, C, -1)
    per_image = a3.sum(axis=2) if b is None else np.einsum("ncs,ncs->nc", a3, b.reshape(N, C, -1))
    return per_image.sum(axis=0, dtype=np.float64)


def batch_norm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    """As :func:`emsm_np.functional.batch_norm.batch_norm_forward`, for NumPy arrays."""
    C = x.shape[1]
    m = x.size // C
    axes = (0,) + tuple(range(2, x.ndim))
    mu, var = (np.empty(C), np.empty(C)) if train else (running_mean, running_var)
    inv_std = np.empty(C, dtype=x.dtype)
    x_c, out = np.empty_like(x), np.empty_like(x)

    def channels(s):
        sl = (slice(None), s)
        per_channel = (1, -1) + (1,) * (x.ndim - 2)  # broadcast (c,) against x[:, s]
        if train:
            mu[s] = _channel_stat(x[sl]) / m
        np.subtract(x[sl], mu[s].astype(x.dtype).reshape(per_channel), out=x_c[sl])
        if train:
            var[s] = _channel_stat(x_c[sl], x_c[sl]) / m
        inv_std[s] = 1.0 / np.sqrt(var[s] + eps)
        np.multiply(x_c[sl], (gamma[s] * inv_std[s]).reshape(per_channel), out=out[sl])
        out[sl] += beta[s].reshape(per_channel)

    for_slices(np, C, x.size, channels)
    if train:
        running = RunningStats(((1 - momentum) * running_mean + momentum * mu).astype(x.dtype),
                               ((1 - momentum) * running_var + momentum * var * (m / (m - 1))).astype(x.dtype))
    else:
        running = RunningStats(running_mean, running_var)
    return out, BatchNormCache(x_c, inv_std, gamma, axes, train), running


def batch_norm_backward(dout, cache):
    """As :func:`emsm_np.functional.batch_norm.batch_norm_backward`, for NumPy arrays."""
    check_bn_backward(dout, cache)
    x_c, inv_std, gamma, axes, train = cache
    C = x_c.shape[1]
    m = dout.size // C
    dx = np.empty(dout.shape, dtype=np.result_type(dout, x_c))
    dgamma, dbeta = np.empty(C, dtype=dx.dtype), np.empty(C, dtype=dx.dtype)

    def channels(s):
        sl = (slice(None), s)
        per_channel = (1, -1) + (1,) * (dout.ndim - 2)
        dbeta[s] = dout[sl].sum(axis=axes)
        dgamma[s] = _channel_dot(dout[sl], x_c[sl]) * inv_std[s]  # sum dout * x_hat
        scale = gamma[s] * inv_std[s]
        if train:
            # dx = scale * (dout - dbeta / m - x_hat * dgamma / m), in three passes
            np.multiply(x_c[sl], (-scale * inv_std[s] * dgamma[s] / m).reshape(per_channel), out=dx[sl])
            dx[sl] += scale.reshape(per_channel) * dout[sl]
            dx[sl] -= (scale * dbeta[s] / m).reshape(per_channel)
        else:
            np.multiply(dout[sl], scale.reshape(per_channel), out=dx[sl])

    for_slices(np, C, dout.size, channels)
    return dx, dgamma, dbeta
