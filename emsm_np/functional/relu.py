"""Rectified linear unit.

Forward and its local derivative::

    out = max(x, 0)
    dL/dx = dout * [x > 0]

The derivative at exactly ``x = 0`` is taken as 0 (PyTorch's choice); finite
differences disagree there, so gradient checks keep inputs away from 0.

This module computes and does not validate its forward inputs: :mod:`emsm_np.ops`
(and the layers, which call it) checks them once, then picks this route or the
fast CPU one. The backward checks its ``dout`` against the cache.
"""
from collections import namedtuple

from .._checks import check_like
from ..backend import get_array_module

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
    xp = get_array_module(x)
    return xp.maximum(x, 0), ReluCache(x > 0)


def check_relu_backward(dout, cache):
    check_like(dout, cache.positive)


def relu_backward(dout, cache):
    """``dx = dout * [x > 0]``, for ``dout`` like the forward output (on x's device)."""
    check_relu_backward(dout, cache)
    return dout * cache.positive
