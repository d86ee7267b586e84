"""Rectified linear unit.

Forward and its local derivative::

    out = max(x, 0)
    dL/dx = dout * [x > 0]

The derivative at exactly ``x = 0`` is taken as 0 (PyTorch's choice); finite
differences disagree there, so gradient checks keep inputs away from 0.
"""
from collections import namedtuple

from .._checks import check_array, check_same_device

ReluCache = namedtuple("ReluCache", ["positive"])
ReluCache.__doc__ = "The boolean mask ``x > 0`` (shape of x): where the gradient passes."


def relu_forward(x):
    """``out = max(x, 0)`` elementwise.

    Parameters
    ----------
    x : float array, any shape

    Returns
    -------
    out : array like ``x``
    cache : ReluCache
    """
    xp = check_array("x", x)
    return xp.maximum(x, 0), ReluCache(x > 0)


def check_relu_backward(dout, cache):
    check_same_device(("dout", dout), ("x", cache.positive))
    if tuple(dout.shape) != tuple(cache.positive.shape):
        raise ValueError(f"dout must have the forward output's shape {tuple(cache.positive.shape)}, "
                         f"got {tuple(dout.shape)}")


def relu_backward(dout, cache):
    """``dx = dout * [x > 0]``.

    Parameters
    ----------
    dout : array like the forward output, on x's device
    cache : ReluCache

    Returns
    -------
    dx : array like ``dout``
    """
    check_relu_backward(dout, cache)
    return dout * cache.positive
