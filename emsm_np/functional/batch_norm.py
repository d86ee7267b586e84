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
them into its buffers). The per-channel sums behind ``mu`` and ``var`` run over
up to ~1e5 values: they are accumulated in float64 whatever x's dtype (only the
(C,) results are cast back).

This module computes and does not validate its forward inputs: :mod:`emsm_np.ops`
(and the layers, which call it) checks them once, then picks this route or the
fast CPU one. The backward checks its ``dout`` against the cache.
"""
from collections import namedtuple

from .._checks import check_like
from ..backend import get_array_module

BatchNormCache = namedtuple("BatchNormCache", ["x_centered", "inv_std", "gamma", "axes", "train"])
BatchNormCache.__doc__ = "x - mu (shape of x), 1/sqrt(var + eps) and gamma (C,), the reduced axes, the mode."
RunningStats = namedtuple("RunningStats", ["mean", "var"])


def channel_layout(x):
    """For ``x`` (N, C) or (N, C, H, W): the number of values per channel ``m``, the axes the
    statistics reduce (all but 1), and the shape that broadcasts a (C,) array against ``x``."""
    return x.size // x.shape[1], (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)


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
    xp = get_array_module(x)
    m, axes, per_channel = channel_layout(x)
    if train:
        mu = x.mean(axis=axes, dtype=xp.float64)
        x_c = x - mu.astype(x.dtype).reshape(per_channel)
        var = (x_c * x_c).mean(axis=axes, dtype=xp.float64)
        running = RunningStats(((1 - momentum) * running_mean + momentum * mu).astype(x.dtype),
                               ((1 - momentum) * running_var + momentum * var * (m / (m - 1))).astype(x.dtype))
    else:
        mu, var = running_mean, running_var
        x_c = x - mu.reshape(per_channel)
        running = RunningStats(running_mean, running_var)
    inv_std = (1.0 / xp.sqrt(var + eps)).astype(x.dtype)
    x_hat = x_c * inv_std.reshape(per_channel)
    out = gamma.reshape(per_channel) * x_hat + beta.reshape(per_channel)
    return out, BatchNormCache(x_c, inv_std, gamma, axes, train), running


def check_bn_backward(dout, cache):
    check_like(dout, cache.x_centered)


def batch_norm_backward(dout, cache):
    """Backpropagate through :func:`batch_norm_forward` (train or eval mode), for ``dout`` like
    its output (on x's device): ``(dx like x, dgamma (C,), dbeta (C,))``."""
    check_bn_backward(dout, cache)
    x_c, inv_std, gamma, axes, train = cache
    m, _, per_channel = channel_layout(dout)
    x_hat = x_c * inv_std.reshape(per_channel)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    scale = (gamma * inv_std).reshape(per_channel)
    if train:
        # mu and var depend on every x of the channel: remove from dout its mean
        # and its component along x_hat.
        dx = scale * (dout - dbeta.reshape(per_channel) / m - x_hat * dgamma.reshape(per_channel) / m)
    else:
        dx = scale * dout  # the running statistics are constants: out is affine in x
    return dx, dgamma, dbeta
