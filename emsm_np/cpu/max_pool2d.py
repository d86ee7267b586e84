"""Max-pooling of 2x2 windows at stride 2 on the CPU, by pairwise maxima.

The reference (:mod:`emsm_np.functional.max_pool2d`) gathers every window with
im2col and keeps a (kh*kw, N, C, Ho, Wo) mask of winners. For the 2x2 windows
at stride 2 of every network here there is a shorter route with the same
numbers (``tests/test_cpu_routes.py``): the max of a window is the max of its
two row maxima, each the max of a pair of neighbours. Two maxima over strided
views give the output, and two boolean "picks" record the choice: ``right``
(N, C, 2*Ho, Wo), true where a row's right element beat its left one strictly,
and ``lower`` (N, C, Ho, Wo), true where the lower row's max beat the upper's
strictly. Ties keep the earlier element at each step, and taking columns first,
then rows, that is the first maximum in row-by-row window order (PyTorch's
rule). Backward undoes the two steps: ``dout`` goes to the lower or upper row,
then to the right or left element. A ceil-mode partial window is completed
with -inf, which never wins. The batch is split between worker threads
(:mod:`emsm_np.cpu.threads`).
"""
from collections import namedtuple

import numpy as np

from .._checks import check_like
from ..functional._inputs import pair
from ..functional.im2col import output_size
from .threads import for_slices

PairsCache = namedtuple("PairsCache", ["right_won", "lower_won", "x_shape"])
PairsCache.__doc__ = "The two picks, (N, C, 2*Ho, Wo) and (N, C, Ho, Wo) bool, and the input's shape."


def applies(kernel_size, stride, padding):
    """Whether these (pair) parameters are the 2x2, stride-2, unpadded pooling of this route."""
    return kernel_size == stride == (2, 2) and padding == (0, 0)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """As :func:`emsm_np.functional.max_pool2d.max_pool2d_forward`, for a NumPy ``x`` and
    2x2 windows at stride 2 without padding. Returns ``(out, PairsCache)``."""
    kernel_size = pair(kernel_size)
    stride, padding = (kernel_size if stride is None else pair(stride)), pair(padding)
    if not applies(kernel_size, stride, padding):
        raise ValueError(f"this route pools 2x2 windows at stride 2 without padding, got kernel_size "
                         f"{kernel_size}, stride {stride}, padding {padding}")
    N, C, H, W = x.shape
    Ho, Wo = output_size(H, 2, 2, 0, ceil_mode), output_size(W, 2, 2, 0, ceil_mode)
    if (H, W) != (2 * Ho, 2 * Wo):
        if 2 * Ho <= H and 2 * Wo <= W:  # floor mode: the last row/column is in no window
            x = x[:, :, : 2 * Ho, : 2 * Wo]
        else:  # ceil mode: a last partial window, completed with -inf (never wins)
            x_full = np.full((N, C, 2 * Ho, 2 * Wo), -np.inf, dtype=x.dtype)
            x_full[:, :, :H, :W] = x
            x = x_full
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    right_won = np.empty((N, C, 2 * Ho, Wo), dtype=bool)
    lower_won = np.empty((N, C, Ho, Wo), dtype=bool)

    def part(s):
        left, right = x[s, :, :, 0::2], x[s, :, :, 1::2]
        np.greater(right, left, out=right_won[s])  # strictly: a tie keeps the left (earlier) element
        row_max = np.maximum(left, right)  # (n, C, 2*Ho, Wo)
        upper, lower = row_max[:, :, 0::2], row_max[:, :, 1::2]
        np.greater(lower, upper, out=lower_won[s])
        np.maximum(upper, lower, out=out[s])

    for_slices(np, N, x.size, part)
    return out, PairsCache(right_won, lower_won, (N, C, H, W))


def max_pool2d_backward(dout, cache):
    """As :func:`emsm_np.functional.max_pool2d.max_pool2d_backward`, for a :class:`PairsCache`."""
    right_won, lower_won, x_shape = cache
    check_like(dout, lower_won)
    N, C, Ho, Wo = lower_won.shape
    dx = np.empty((N, C, 2 * Ho, 2 * Wo), dtype=dout.dtype)

    def part(s):
        g, d = dout[s], dx[s]
        d_rows = np.empty(g.shape[:2] + (2 * Ho, Wo), dtype=dout.dtype)
        np.multiply(g, lower_won[s], out=d_rows[:, :, 1::2])
        np.subtract(g, d_rows[:, :, 1::2], out=d_rows[:, :, 0::2])  # dout where the upper row won, else 0
        np.multiply(d_rows, right_won[s], out=d[..., 1::2])
        np.subtract(d_rows, d[..., 1::2], out=d[..., 0::2])

    for_slices(np, N, dx.size, part)
    H, W = x_shape[2:]
    if (H, W) == dx.shape[2:]:
        return dx
    out = np.zeros(x_shape, dtype=dx.dtype)  # cut the ceil-mode extension, or zero-extend a floor-mode cut
    h, w = min(H, dx.shape[2]), min(W, dx.shape[3])
    out[:, :, :h, :w] = dx[:, :, :h, :w]
    return out
