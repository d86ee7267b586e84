"""2x2 max-pooling at stride 2 on the GPU: one fused kernel forward, one backward.

The reference (:mod:`emsm_np.functional.max_pool2d`) gathers the windows with
im2col (a kernel per offset), takes ``argmax`` and ``max``, and scatters back
with col2im. For 2x2 windows at stride 2 the four elements of a window are four
strided views of ``x``, ``a b / c d``, and one kernel does the whole window::

    top = max(a, b), bottom = max(c, d), out = max(top, bottom)
    lower = bottom > top                         (a tie keeps the upper row)
    right = d > c if lower else b > a            (a tie keeps the left element)

which is the first maximum in window order, the reference's (and PyTorch's) tie
rule. The backward writes ``dout`` at the winner and 0 at the other three, in the
(N, C, Ho, 2, Wo, 2) layout that is ``dx`` itself. A floor-mode last row/column
(odd H or W) is in no window: it gets 0. A ceil-mode last window is completed with
``-inf`` (never wins), as the reference does.
"""
from collections import namedtuple

import numpy as np

from .._checks import check_like
from ..backend import get_array_module
from ..functional.im2col import output_size
from .fuse import fused

GpuPoolCache = namedtuple("GpuPoolCache", ["lower", "right", "x_shape"])
GpuPoolCache.__doc__ = "Which row and which column won each window, (N, C, Ho, Wo) booleans each; x's shape."

_offsets_cache = {}


def applies(kernel_size, stride, padding):
    """This route pools 2x2 windows at stride 2 without padding."""
    return kernel_size == stride == (2, 2) and padding == (0, 0)


@fused
def pool_kernel(xp):
    def kernel(a, b, c, d):
        top, bottom = xp.maximum(a, b), xp.maximum(c, d)
        lower = bottom > top
        right = xp.where(lower, d > c, b > a)
        return xp.maximum(top, bottom), lower, right
    return kernel


@fused
def unpool_kernel(xp):
    def kernel(dout, lower, right, is_lower, is_right):
        return dout * ((lower == is_lower) & (right == is_right))
    return kernel


def _offsets(xp):
    """The (row, column) of each window element as booleans, shaped to broadcast over (N, C, Ho, 2, Wo, 2)."""
    if xp not in _offsets_cache:
        is_lower = xp.asarray(np.array([False, True]).reshape(1, 1, 1, 2, 1, 1))
        _offsets_cache[xp] = (is_lower, is_lower.reshape(1, 1, 1, 1, 1, 2))
    return _offsets_cache[xp]


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """As :func:`emsm_np.functional.max_pool2d.max_pool2d_forward`, for CuPy arrays and 2x2 windows
    at stride 2 without padding (checked by :mod:`emsm_np.ops`): ``(out, GpuPoolCache)``."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = output_size(H, 2, 2, 0, ceil_mode), output_size(W, 2, 2, 0, ceil_mode)
    if 2 * Ho > H or 2 * Wo > W:  # ceil mode: a last partial window, completed with -inf
        full = xp.full((N, C, 2 * Ho, 2 * Wo), -xp.inf, dtype=x.dtype)
        full[:, :, :H, :W] = x
        x = full
    windows = x[:, :, :2 * Ho, :2 * Wo].reshape(N, C, Ho, 2, Wo, 2)  # a view: splitting axes
    a, b = windows[:, :, :, 0, :, 0], windows[:, :, :, 0, :, 1]
    c, d = windows[:, :, :, 1, :, 0], windows[:, :, :, 1, :, 1]
    out, lower, right = pool_kernel(xp)(a, b, c, d)
    return out, GpuPoolCache(lower, right, (N, C, H, W))


def max_pool2d_backward(dout, cache):
    """``dx`` (N, C, H, W): ``dout`` at each window's winner, 0 elsewhere."""
    lower, right, x_shape = cache
    check_like(dout, lower)
    xp = get_array_module(dout)
    N, C, Ho, Wo = lower.shape
    is_lower, is_right = _offsets(xp)
    dx = unpool_kernel(xp)(dout[:, :, :, None, :, None], lower[:, :, :, None, :, None],
                           right[:, :, :, None, :, None], is_lower, is_right).reshape(N, C, 2 * Ho, 2 * Wo)
    H, W = x_shape[2:]
    if (H, W) == (2 * Ho, 2 * Wo):
        return dx
    out = xp.zeros(x_shape, dtype=dx.dtype)  # cut the ceil-mode extension, or zero-extend a floor-mode cut
    h, w = min(H, 2 * Ho), min(W, 2 * Wo)
    out[:, :, :h, :w] = dx[:, :, :h, :w]
    return out
