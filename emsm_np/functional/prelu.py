"""Parametric ReLU (He et al., 2015), the activation used by EM-Softmax's networks.

With slope ``a`` (one shared slope, or one per channel on axis 1)::

    out = x            if x > 0
          a * x        otherwise

Writing the local slope ``s = 1 if x > 0 else a``, the forward is ``out = x * s``
and its derivatives, for an upstream gradient ``dout``::

    dL/dx = dout * s
    dL/da = sum over every position that uses a of  dout * x * [x <= 0]  =  sum dout * min(x, 0)

A per-channel slope ``a_c`` sums over the batch and spatial axes (all but 1);
a single slope sums over everything.

This module computes and does not validate its forward inputs: :mod:`emsm_np.ops`
(and the layers, which call it) checks them once, then picks this route or the
fast CPU one. The backward checks its ``dout`` against the cache.
"""
from collections import namedtuple

from .._checks import check_like
from ..backend import get_array_module

PReluCache = namedtuple("PReluCache", ["x", "local_slope", "weight_shape"])
PReluCache.__doc__ = "The input x, the local slope s (shape of x: 1 or a) and the slopes' shape."


def slope_shape(x, weight):
    """Shape that broadcasts ``weight`` against ``x``: (1, C, 1, ..., 1), or all ones."""
    if weight.shape[0] == 1:
        return (1,) * x.ndim
    return (1, weight.shape[0]) + (1,) * (x.ndim - 2)


def prelu_forward(x, weight):
    """``out = x * s``, ``s = 1 where x > 0, else a``.

    Parameters
    ----------
    x : (N, C, ...) float array (any shape when ``weight`` has one entry)
    weight : (1,) or (C,) float array of slopes, same dtype and device as x

    Returns
    -------
    out : array like ``x``
    cache : PReluCache for :func:`prelu_backward`
    """
    xp = get_array_module(x)
    local_slope = xp.where(x > 0, xp.ones((), dtype=x.dtype), weight.reshape(slope_shape(x, weight)))
    return x * local_slope, PReluCache(x, local_slope, weight.shape)


def check_prelu_backward(dout, cache):
    check_like(dout, cache.x)


def prelu_backward(dout, cache):
    """Gradients of :func:`prelu_forward`, for ``dout`` like its output (on x's device):
    ``dx = dout * s`` like ``x``, and ``dweight = sum dout * min(x, 0)`` like ``weight``."""
    check_prelu_backward(dout, cache)
    xp = get_array_module(dout)
    x, local_slope, weight_shape = cache
    dx = dout * local_slope
    per_position = dout * xp.minimum(x, 0)  # only the non-positive inputs were scaled by a
    if weight_shape[0] == 1:
        dweight = per_position.sum().reshape(weight_shape)
    else:
        dweight = per_position.sum(axis=(0,) + tuple(range(2, x.ndim)))
    return dx, dweight.astype(dout.dtype, copy=False)
