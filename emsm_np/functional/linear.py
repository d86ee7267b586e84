"""Fully connected (affine) layer, in the paper's layout ``W`` in R^{d x K}.

The weight is stored as (in_features, out_features), so the forward rule reads
like the paper's ``W^T x`` written for a batch of row vectors::

    out = x @ W + b                        x (N, d), W (d, K), b (K,)

Gradients, for an upstream gradient ``dout = dL/dout`` (N, K)::

    dL/dx = dout @ W^T                     (N, d)
    dL/dW = x^T @ dout                     (d, K)   sum over the batch of outer products
    dL/db = sum_n dout[n]                  (K,)     b is added to every row

This module computes and does not validate its forward inputs: :mod:`emsm_np.ops`
(and the layers, which call it) checks them once, then picks this route or the
fast CPU one. The backward checks its ``dout`` against the cache.
"""
from collections import namedtuple

from .._checks import check_like

LinearCache = namedtuple("LinearCache", ["x", "weight", "has_bias"])


def linear_forward(x, weight, bias=None):
    """``out = x @ weight + bias``.

    Parameters
    ----------
    x : (N, d) float array
    weight : (d, K) float array (in_features, out_features), same dtype and device as x
    bias : (K,) float array, or None for no bias, same dtype and device as x

    Returns
    -------
    out : (N, K) array
    cache : LinearCache for :func:`linear_backward`
    """
    out = x @ weight
    if bias is not None:
        out += bias
    return out, LinearCache(x, weight, bias is not None)


def check_linear_backward(dout, cache):
    check_like(dout, cache.x, (cache.x.shape[0], cache.weight.shape[1]))


def linear_backward(dout, cache):
    """Backpropagate through :func:`linear_forward`.

    Parameters
    ----------
    dout : (N, K) array, dL/dout, on x's device
    cache : LinearCache

    Returns
    -------
    dx : (N, d), ``dout W^T``
    dweight : (d, K), ``x^T dout``
    dbias : (K,) ``sum_n dout[n]``, or None when the forward had no bias
    """
    check_linear_backward(dout, cache)
    x, weight, has_bias = cache
    return dout @ weight.T, x.T @ dout, (dout.sum(axis=0) if has_bias else None)
