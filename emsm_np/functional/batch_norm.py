"""Batch normalisation (Ioffe & Szegedy, 2015), with PyTorch's semantics.

Statistics run over every axis but the channel axis 1: over the batch for
(N, C) inputs, over the batch and the pixels for (N, C, H, W). With ``m`` the
number of values per channel::

    mu     = mean(x)                          per channel
    var    = mean((x - mu)^2)                 biased: used to normalise
    x_hat  = (x - mu) / sqrt(var + eps)
    out    = gamma * x_hat + beta

Running statistics (train mode) use the *unbiased* variance, as PyTorch does::

    running_mean <- (1 - momentum) running_mean + momentum mu
    running_var  <- (1 - momentum) running_var  + momentum var * m / (m - 1)

Eval mode normalises with the running statistics instead, so the layer is an
affine map of ``x`` per channel.

Gradients, with sums over the ``m`` values of a channel::

    dL/dbeta  = sum dout
    dL/dgamma = sum dout * x_hat
    train:  dL/dx = gamma / (m sqrt(var + eps)) * (m dout - sum dout - x_hat sum(dout * x_hat))
    eval:   dL/dx = gamma / sqrt(running_var + eps) * dout

The train-mode rule is the compact closed form: differentiating through mu and
var removes from ``dout`` its mean and its component along ``x_hat``.

The functions never write into their arguments: the forward *returns* the new
running statistics, and the caller decides where to keep them (the layer copies
them into its buffers).
"""
from collections import namedtuple

from .._checks import check_array, check_float, check_same, check_same_device
from ..backend import get_array_module
from ..parallel import for_slices

BatchNormCache = namedtuple("BatchNormCache", ["x_centered", "inv_std", "gamma", "axes", "train"])
RunningStats = namedtuple("RunningStats", ["mean", "var"])


def _check_bn_inputs(x, gamma, beta, running_mean, running_var, train, momentum, eps):
    check_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must be (N, C) or (N, C, H, W), got shape {tuple(x.shape)} ({x.ndim}-D)")
    C = x.shape[1]
    for name, a in (("gamma", gamma), ("beta", beta),
                    ("running_mean", running_mean), ("running_var", running_var)):
        check_array(name, a, ndim=1)
        if a.shape != (C,):
            raise ValueError(
                f"{name} must have shape ({C},) to match the {C} channels of x "
                f"(dim 1 of shape {tuple(x.shape)}), got {tuple(a.shape)}"
            )
    check_same(("x", x), ("gamma", gamma), ("beta", beta),
               ("running_mean", running_mean), ("running_var", running_var))
    if not isinstance(train, bool):
        raise TypeError(f"train must be True or False, got {train!r}")
    momentum = check_float("momentum", momentum, minimum=0.0, maximum=1.0)
    eps = check_float("eps", eps, minimum=0.0, min_inclusive=False)
    if train and x.size // C < 2:
        raise ValueError(
            f"batch norm in train mode needs more than 1 value per channel, got x of shape "
            f"{tuple(x.shape)}; use a larger batch or train=False"
        )
    return momentum, eps


def batch_norm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    """Normalise ``x`` per channel (axis 1), then scale by ``gamma`` and shift by ``beta``.

    Parameters
    ----------
    x : (N, C) or (N, C, H, W) float array
    gamma, beta : (C,) arrays, the affine parameters
    running_mean, running_var : (C,) arrays, read only (never modified);
        these four share x's dtype and device
    train : bool, True for batch statistics, False for the running statistics
    momentum : float in [0, 1], weight of the batch statistics in the running update
    eps : float > 0, added to the variance

    Returns
    -------
    out : array like ``x``
    cache : BatchNormCache for :func:`batch_norm_backward`
    running : RunningStats(mean, var), (C,) each: the updated running statistics
        in train mode (new arrays), the inputs unchanged in eval mode
    """
    momentum, eps = _check_bn_inputs(x, gamma, beta, running_mean, running_var, train, momentum, eps)
    xp = get_array_module(x)
    C = x.shape[1]
    m = x.size // C
    axes = (0,) + tuple(range(2, x.ndim))
    if train:
        mu, var = xp.empty(C, dtype=x.dtype), xp.empty(C, dtype=x.dtype)
    else:
        mu, var = running_mean, running_var
    inv_std = xp.empty(C, dtype=x.dtype)
    x_c, out = xp.empty_like(x), xp.empty_like(x)

    def channels(s):  # a slice of the channels; slices run in parallel threads (parallel.py)
        sl = (slice(None), s)
        per_channel = (1, -1) + (1,) * (x.ndim - 2)  # broadcast (c,) against x[:, s]
        if train:
            mu[s] = x[sl].mean(axis=axes)
        xp.subtract(x[sl], mu[s].reshape(per_channel), out=x_c[sl])
        if train:
            var[s] = _channel_dot(xp, x_c[sl], x_c[sl]) / m
        inv_std[s] = 1.0 / xp.sqrt(var[s] + eps)
        # out = gamma * x_hat + beta with x_hat = x_c * inv_std, in two passes over x_c;
        # the cache keeps x_c (x_hat is never stored: each use folds inv_std into a
        # per-channel factor).
        xp.multiply(x_c[sl], (gamma[s] * inv_std[s]).reshape(per_channel), out=out[sl])
        out[sl] += beta[s].reshape(per_channel)

    for_slices(xp, C, x.size, channels)
    if train:
        new_mean = (1 - momentum) * running_mean + momentum * mu
        new_var = (1 - momentum) * running_var + momentum * var * (m / (m - 1))
        running = RunningStats(new_mean.astype(x.dtype, copy=False), new_var.astype(x.dtype, copy=False))
    else:
        running = RunningStats(running_mean, running_var)
    return out, BatchNormCache(x_c, inv_std, gamma, axes, train), running


def _channel_dot(xp, a, b):
    """Per-channel sum of ``a * b`` over every axis but 1, as a (C,) array.

    One fused pass (no ``a * b`` temporary): ``einsum`` over an (N, C, S) view.
    """
    N, C = a.shape[:2]
    return xp.einsum("ncs,ncs->c", a.reshape(N, C, -1), b.reshape(N, C, -1))


def batch_norm_backward(dout, cache):
    """Backpropagate through :func:`batch_norm_forward` (train or eval mode).

    Parameters
    ----------
    dout : array like the forward output, on x's device
    cache : BatchNormCache

    Returns
    -------
    dx : array like ``x``
    dgamma, dbeta : (C,) arrays
    """
    x_c, inv_std, gamma, axes, train = cache
    check_same_device(("dout", dout), ("x", x_c))
    if tuple(dout.shape) != tuple(x_c.shape):
        raise ValueError(f"dout must have the forward output's shape {tuple(x_c.shape)}, got {tuple(dout.shape)}")
    xp = get_array_module(dout)
    C = x_c.shape[1]
    m = dout.size // C
    dx = xp.empty(dout.shape, dtype=xp.result_type(dout, x_c))
    dgamma, dbeta = xp.empty(C, dtype=dx.dtype), xp.empty(C, dtype=dx.dtype)

    def channels(s):  # a slice of the channels; slices run in parallel threads (parallel.py)
        sl = (slice(None), s)
        per_channel = (1, -1) + (1,) * (dout.ndim - 2)  # broadcast (c,) against dout[:, s]
        dbeta[s] = dout[sl].sum(axis=axes)
        dgamma[s] = _channel_dot(xp, dout[sl], x_c[sl]) * inv_std[s]  # sum dout * x_hat
        scale = gamma[s] * inv_std[s]
        if train:
            # mu and var depend on every x of the channel: subtract the mean of dout
            # and its projection on x_hat (dgamma / m is that projection's coefficient):
            # dx = scale * (dout - dbeta / m - x_hat * dgamma / m), in four passes.
            xp.multiply(x_c[sl], (-scale * inv_std[s] * dgamma[s] / m).reshape(per_channel), out=dx[sl])
            dx[sl] += scale.reshape(per_channel) * dout[sl]
            dx[sl] -= (scale * dbeta[s] / m).reshape(per_channel)
        else:
            # Running statistics are constants here: out is affine in x.
            xp.multiply(dout[sl], scale.reshape(per_channel), out=dx[sl])

    for_slices(xp, C, dout.size, channels)
    return dx, dgamma, dbeta
