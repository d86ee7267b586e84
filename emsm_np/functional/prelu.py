"""Parametric ReLU (He et al., 2015), the activation used by EM-Softmax's networks.

With slope ``a`` (one shared slope, or one per channel on axis 1)::

    out = x            if x > 0
          a * x        otherwise

Gradients, for upstream ``dout``::

    dL/dx = dout * (1 if x > 0 else a)
    dL/da = sum over every position that uses a of  dout * x * [x <= 0]

A per-channel slope ``a_c`` sums over the batch and spatial axes (all but 1);
a single slope sums over everything.

Computed without ``where`` (see ``relu.py``: it is ~10x slower than arithmetic
on a patternless mask), through the local slope ``s = a + (1 - a) [x > 0]``
(exactly 1 or a), kept from the forward pass::

    out   = x * s
    dL/dx = dout * s
    dL/da = sum dout * min(x, 0)

For slopes in [0, 1] (the usual case) ``s = max([x > 0], a)`` gives the same
exact values in two passes without casting a boolean mask (measured 8.8 ->
3.9 ms at 64x64x28x28 float32); other slopes take ``a [x <= 0] + [x > 0]``.
"""
from collections import namedtuple

from .._checks import check_array, check_same, check_same_device
from ..backend import get_array_module
from ..parallel import for_batch, sum_in_order

PReluCache = namedtuple("PReluCache", ["x", "local_slope", "weight_shape"])


def _slope_shape(x, weight):
    """Shape that broadcasts ``weight`` against ``x``: (1, C, 1, ..., 1), or all ones."""
    if weight.shape[0] == 1:
        return (1,) * x.ndim
    if x.ndim < 2 or x.shape[1] != weight.shape[0]:
        raise ValueError(
            f"x must have {weight.shape[0]} channels (num_parameters) in dim 1, "
            f"got shape {tuple(x.shape)}"
        )
    return (1, weight.shape[0]) + (1,) * (x.ndim - 2)


def prelu_forward(x, weight):
    """``out = where(x > 0, x, a * x)``.

    Parameters
    ----------
    x : (N, C, ...) float array (any shape when ``weight`` has one entry)
    weight : (1,) or (C,) float array of slopes, same dtype and device as x

    Returns
    -------
    out : array like ``x``
    cache : PReluCache for :func:`prelu_backward`
    """
    check_array("x", x)
    check_array("weight", weight, ndim=1)
    if weight.shape[0] < 1:
        raise ValueError("weight must hold at least one slope, got shape (0,)")
    check_same(("x", x), ("weight", weight))
    xp = get_array_module(x)
    slope = weight.reshape(_slope_shape(x, weight))
    usual = bool(((weight >= 0) & (weight <= 1)).all())  # the usual slopes (PyTorch's init: 0.25)
    out, local_slope = xp.empty_like(x), xp.empty_like(x)

    def part(s):  # a slice of the batch; the slices run in parallel threads (parallel.py)
        xs, ls = x[s], local_slope[s]
        if usual:
            # [x > 0] as 0.0/1.0, then max with a: 1 stays 1 (a <= 1), 0 becomes a (a >= 0).
            # Two passes, no casts from bool (2x faster than the general form below).
            xp.greater(xs, 0, out=ls)
            xp.maximum(ls, slope, out=ls)
        else:
            non_positive = xs <= 0
            xp.multiply(non_positive, slope, out=ls)
            ls += ~non_positive  # exactly 1 where x > 0 (or NaN), exactly a elsewhere
        xp.multiply(xs, ls, out=out[s])

    for_batch(xp, x, part)
    return out, PReluCache(x, local_slope, weight.shape)


def prelu_backward(dout, cache):
    """Gradients of :func:`prelu_forward` with respect to the input and the slopes.

    Parameters
    ----------
    dout : array like the forward output, on x's device
    cache : PReluCache

    Returns
    -------
    dx : array like ``x``
    dweight : array like ``weight``, (1,) or (C,)
    """
    xp = get_array_module(dout)
    x, local_slope, weight_shape = cache
    check_same_device(("dout", dout), ("x", x))
    if tuple(dout.shape) != tuple(x.shape):
        raise ValueError(f"dout must have the forward output's shape {tuple(x.shape)}, got {tuple(dout.shape)}")
    dx = xp.empty(dout.shape, dtype=xp.result_type(dout, local_slope))
    zero = xp.zeros((), dtype=x.dtype)

    def part(s):  # a slice of the batch: its dx, and its part of dL/da
        xp.multiply(dout[s], local_slope[s], out=dx[s])
        # Only the non-positive inputs were scaled by a, so only they feed dL/da.
        x_neg = xp.minimum(x[s], zero)
        if weight_shape[0] == 1:
            return xp.vdot(dout[s].ravel(), x_neg.ravel()).reshape(weight_shape)
        n, C = x_neg.shape[:2]
        return xp.einsum("ncs,ncs->c", dout[s].reshape(n, C, -1), x_neg.reshape(n, C, -1))

    parts = for_batch(xp, x, part)
    dweight = sum_in_order(parts)
    return dx, dweight.astype(dout.dtype, copy=False)
