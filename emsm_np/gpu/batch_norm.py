"""Batch norm on the GPU: the reference's formulas in five kernels forward and four backward.

The same statistics as :mod:`emsm_np.functional.batch_norm` (per-channel sums in
float64, the biased variance to normalise, the unbiased one in the running
variance), in fewer launches: every elementwise chain is one fused kernel, and
the (C,)-sized arithmetic is one kernel for all of its results. Train mode::

    s1 = sum x                                   (float64)       one reduction
    x_c = x - s1/m,  q = x_c^2                                    one fused kernel
    s2 = sum q                                   (float64)       one reduction
    inv_std, running_mean, running_var from s1, s2               one fused kernel on (C,), writing
                                                                  the running statistics in place
    out = gamma (x_c inv_std) + beta                              one fused kernel

    dbeta = sum dout                                              one reduction
    dgamma = sum dout x_hat,  x_hat = x_c inv_std                 one fused kernel, one reduction
    dx = gamma inv_std (dout - dbeta/m - x_hat dgamma/m)          one fused kernel

Eval mode normalises with the running statistics: two kernels forward, three
backward. The cache is the reference's :class:`BatchNormCache`, so either route's
backward reads either's cache.
"""
from ..backend import get_array_module
from ..functional.batch_norm import BatchNormCache, RunningStats, channel_layout, check_bn_backward
from .fuse import fused


@fused
def center_kernel(xp):
    def kernel(x, s1, m):
        x_c = x - (s1 / m).astype(x.dtype)  # mu in float64, cast as the reference casts it
        return x_c, x_c * x_c
    return kernel


@fused
def statistics_kernel(xp):
    def kernel(s1, s2, m, running_mean, running_var, momentum, eps, new_mean, new_var):
        mu, var = s1 / m, s2 / m
        new_mean[...] = (1 - momentum) * running_mean + momentum * mu  # written in new_mean's dtype
        new_var[...] = (1 - momentum) * running_var + momentum * var * (m / (m - 1))
        return (1.0 / xp.sqrt(var + eps)).astype(running_mean.dtype)
    return kernel


@fused
def eval_statistics_kernel(xp):
    def kernel(running_var, eps):
        return (1.0 / xp.sqrt(running_var + eps)).astype(running_var.dtype)
    return kernel


@fused
def normalize_kernel(xp):
    def kernel(x_c, inv_std, gamma, beta):
        return gamma * (x_c * inv_std) + beta
    return kernel


@fused
def eval_normalize_kernel(xp):
    def kernel(x, mean, inv_std, gamma, beta):
        x_c = x - mean
        return x_c, gamma * (x_c * inv_std) + beta
    return kernel


@fused
def dgamma_terms_kernel(xp):
    def kernel(dout, x_c, inv_std):
        return dout * (x_c * inv_std)
    return kernel


@fused
def dx_kernel(xp):
    def kernel(dout, x_c, inv_std, gamma, dbeta, dgamma, m):
        # mu and var depend on every x of the channel: remove from dout its mean
        # and its component along x_hat.
        return (gamma * inv_std) * (dout - dbeta / m - (x_c * inv_std) * dgamma / m)
    return kernel


@fused
def eval_dx_kernel(xp):
    def kernel(dout, inv_std, gamma):
        return (gamma * inv_std) * dout  # the running statistics are constants: out is affine in x
    return kernel


def batch_norm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5,
                       running_out=None):
    """As :func:`emsm_np.functional.batch_norm.batch_norm_forward`, for CuPy arrays:
    ``(out, BatchNormCache, RunningStats)``. ``running_out``: None (new arrays), or the two (C,)
    arrays to write the new running statistics into (they may be ``running_mean`` and
    ``running_var`` themselves: each element is read before it is written)."""
    xp = get_array_module(x)
    m, axes, per_channel = channel_layout(x)
    if train:
        s1 = x.sum(axis=axes, dtype=xp.float64)
        x_c, squares = center_kernel(xp)(x, s1.reshape(per_channel), m)
        s2 = squares.sum(axis=axes, dtype=xp.float64)
        if running_out is None:
            running_out = (xp.empty_like(running_mean), xp.empty_like(running_var))
        running = RunningStats(*running_out)
        inv_std = statistics_kernel(xp)(s1, s2, m, running_mean, running_var, float(momentum), float(eps),
                                        running.mean, running.var)
        out = normalize_kernel(xp)(x_c, inv_std.reshape(per_channel), gamma.reshape(per_channel),
                                   beta.reshape(per_channel))
    else:
        inv_std = eval_statistics_kernel(xp)(running_var, float(eps))
        x_c, out = eval_normalize_kernel(xp)(x, running_mean.reshape(per_channel), inv_std.reshape(per_channel),
                                             gamma.reshape(per_channel), beta.reshape(per_channel))
        running = RunningStats(running_mean, running_var)
    return out, BatchNormCache(x_c, inv_std, gamma, axes, train), running


def batch_norm_backward(dout, cache, out=None):
    """As :func:`emsm_np.functional.batch_norm.batch_norm_backward`, for CuPy arrays:
    ``(dx like x, dgamma (C,), dbeta (C,))``; ``out``: None, or ``(dgamma, dbeta)`` arrays that
    the gradients are written into (and returned)."""
    check_bn_backward(dout, cache)
    xp = get_array_module(dout)
    x_c, inv_std, gamma, axes, train = cache
    m, _, per_channel = channel_layout(dout)
    dgamma_out, dbeta_out = out if out is not None else (None, None)
    dbeta = dout.sum(axis=axes, out=dbeta_out)
    dgamma = dgamma_terms_kernel(xp)(dout, x_c, inv_std.reshape(per_channel)).sum(axis=axes, out=dgamma_out)
    if train:
        dx = dx_kernel(xp)(dout, x_c, inv_std.reshape(per_channel), gamma.reshape(per_channel),
                           dbeta.reshape(per_channel), dgamma.reshape(per_channel), m)
    else:
        dx = eval_dx_kernel(xp)(dout, inv_std.reshape(per_channel), gamma.reshape(per_channel))
    return dx, dgamma, dbeta
