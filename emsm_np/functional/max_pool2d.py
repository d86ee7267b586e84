"""2-D max-pooling with PyTorch's output size (including ``ceil_mode``) and tie rule.

Forward rule, for input ``x`` (N, C, H, W) padded with ``-inf`` to ``xpad``::

    out[n, c, oy, ox] = max_{i, j} xpad[n, c, oy*sy + i, ox*sx + j]

Gradient rule: the whole upstream gradient of a window goes to the element that
won it (the max is locally a selection, so its derivative is 1 there and 0
elsewhere); an input element that wins several overlapping windows collects
the sum::

    dx[n, c, y, x] = sum over windows (oy, ox) won by (y, x) of dout[n, c, oy, ox]

Ties go to the first maximum in window order (row by row, left to right), as
in PyTorch. The max is undefined-in-derivative at ties, so gradient checks
keep all entries of a window apart.

Output size (PyTorch's rule, see :func:`emsm_np.functional.im2col.output_size`)::

    Ho = floor((H + 2 ph - kh) / sy) + 1                   (ceil_mode=False)
    Ho = ceil((H + 2 ph - kh) / sy) + 1, minus 1 if that last window would start
         at or past H + ph (it must overlap the input or its left padding)

With ``ceil_mode`` the last window may hang past the padded input; the part
outside reads ``-inf``, so it never wins. LiuNet's MNIST 7x7 map pooled with
kernel 2, stride 2, ``ceil_mode=True`` gives 4x4 (the last window covers one
row/column).

Implementation: :func:`im2col` gathers every window as ``col[i, j]`` (a loop over
the kh*kw offsets) and the max runs over the offsets. The forward keeps
``argmax`` over the offsets (N, C, Ho, Wo), the offset that won each window
(``argmax`` returns the first maximum: PyTorch's tie rule); backward scatters
``dout`` to that offset, ``dcol[k] = [argmax == k] * dout``, and :func:`col2im`
sums ``dcol`` back onto the input.

This is the route a reader follows; the 2x2 windows at stride 2 of every
network here take the faster routes of :mod:`emsm_np.cpu.max_pool2d` (NumPy) and
:mod:`emsm_np.gpu.max_pool2d` (CuPy), tested against this file.

This module computes and does not validate its forward inputs: :mod:`emsm_np.ops`
(and the layers, which call it) checks them once, then picks this route or the
fast CPU one. The backward checks its ``dout`` against the cache.
"""
from collections import namedtuple

from .._checks import check_like
from ..backend import get_array_module
from ._inputs import pair, pool_params  # noqa: F401  (pool_params: layers.MaxPool2d imports it from here)
from .im2col import col2im, im2col, output_size

MaxPool2dCache = namedtuple("MaxPool2dCache", ["winner", "x_shape", "kernel_size", "stride", "padding"])
MaxPool2dCache.__doc__ = ("winner (N, C, Ho, Wo) int: the offset (i*kw + j) that won each window; "
                          "the input's shape and the window geometry (pairs).")


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over each (kh, kw) window of ``x``.

    Parameters
    ----------
    x : (N, C, H, W) float array
    kernel_size : int or pair (kh, kw)
    stride : int, pair, or None (= kernel_size)
    padding : int or pair, at most half the kernel; pads with -inf on both sides
    ceil_mode : round the output size up (PyTorch's rule, see module docstring)

    Returns
    -------
    out : (N, C, Ho, Wo) array of ``x.dtype``
    cache : MaxPool2dCache (which offset won each window, and the geometry)
    """
    xp = get_array_module(x)
    kernel_size = pair(kernel_size)
    stride, padding = (kernel_size if stride is None else pair(stride)), pair(padding)
    (N, C, H, W), (kh, kw), (sy, sx), (ph, pw) = x.shape, kernel_size, stride, padding
    Ho, Wo = output_size(H, kh, sy, ph, ceil_mode), output_size(W, kw, sx, pw, ceil_mode)
    col = im2col(x, kernel_size, stride, padding, (Ho, Wo), pad_value=-xp.inf).reshape(kh * kw, N, C, Ho, Wo)
    winner = col.argmax(axis=0)  # the first maximum of each window (PyTorch's tie rule)
    out = col.max(axis=0)
    return out, MaxPool2dCache(winner, x.shape, kernel_size, stride, padding)


def max_pool2d_backward(dout, cache):
    """Gradient of :func:`max_pool2d_forward` with respect to ``x``.

    Parameters
    ----------
    dout : (N, C, Ho, Wo) array, gradient with respect to ``out``, on x's device
    cache : MaxPool2dCache from the forward pass

    Returns
    -------
    dx : (N, C, H, W) array of ``dout.dtype``: ``col2im([winner == k] * dout)``
    """
    winner, x_shape, (kh, kw), stride, padding = cache
    check_like(dout, winner)
    xp = get_array_module(dout)
    offsets = xp.arange(kh * kw).reshape(-1, 1, 1, 1, 1)
    dcol = (winner == offsets) * dout  # dcol[k]: dout where offset k won its window, 0 elsewhere
    dx = col2im(dcol.reshape((kh, kw) + tuple(dout.shape)), x_shape, stride, padding)
    return xp.ascontiguousarray(dx)
