"""2-D convolution (cross-correlation, as in every deep-learning library) by im2col + GEMM.

Forward rule, for input ``x`` (N, C, H, W) zero-padded to ``xpad``, weight ``w``
(F, C, kh, kw), bias ``b`` (F,) and stride ``(sy, sx)``::

    out[n, f, oy, ox] = b[f] + sum_{c, i, j} w[f, c, i, j] * xpad[n, c, oy*sy + i, ox*sx + j]

With ``Col = im2col(x)`` laid out as a (kh*kw*C, N*Ho*Wo) matrix (row ``(i, j, c)``,
column ``(n, oy, ox)``) and ``Wm`` the weight as an (F, kh*kw*C) matrix with the
same row order, this is one matrix product, and its gradients are the two
others (``G = dL/dOut`` as an (F, N*Ho*Wo) matrix)::

    Out  = Wm @ Col + b
    dWm  = G @ Col^T
    dCol = Wm^T @ G,    dx = col2im(dCol)   (sums overlapping windows, drops padding)
    db   = sum of G over (n, oy, ox)

BLAS does the arithmetic; the Python loops inside im2col and col2im run over
the kh*kw kernel offsets only. The backward pass rebuilds ``Col`` from ``x``
instead of keeping the forward's: ``Col`` is kh*kw times the size of ``x``
(450 MB for one of LiuNet-CIFAR-100's layers at batch 128), and a network
would otherwise hold one per layer between its forward and backward passes.

This is the route a reader follows; on NumPy arrays the layers take the faster
CPU routes of :mod:`emsm_np.cpu.conv2d`, on CuPy arrays the GPU route of
:mod:`emsm_np.gpu.conv2d` (one gather for Col, kept for the backward): the same
sums in other orders, tested against this file. With the fast routes off
(:mod:`emsm_np.ops`), CuPy runs this file too.

This module computes and does not validate its forward inputs: :mod:`emsm_np.ops`
(and the layers, which call it) checks them once, then picks this route or a
fast one. The backward checks its ``dout`` against the cache.
"""
from collections import namedtuple

from .._checks import check_like
from ..backend import get_array_module
from ._inputs import pair
from .im2col import col2im, im2col, output_size

Conv2dCache = namedtuple("Conv2dCache", ["x", "weight", "stride", "padding", "has_bias"])
Conv2dCache.__doc__ = "The input x and weight (not copies), stride and padding pairs, whether there is a bias."


def _col(x, kernel_size, stride, padding, out_size):
    """Col: (kh*kw*C, N*Ho*Wo), rows (i, j, c), columns (n, oy, ox)."""
    (kh, kw), C = kernel_size, x.shape[1]
    # im2col of x seen as (C, N, H, W) puts the channels before the batch, so the
    # result reshapes to the matrix without another copy.
    col = im2col(x.transpose(1, 0, 2, 3), kernel_size, stride, padding, out_size)
    return col.reshape(kh * kw * C, -1)


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """Convolve ``x`` with ``weight`` and add ``bias``.

    Parameters
    ----------
    x : (N, C, H, W) float array
    weight : (F, C, kh, kw) float array, same dtype and device as x
    bias : (F,) float array or None, same dtype and device as x
    stride : int or pair (sy, sx), >= 1
    padding : int or pair (ph, pw), >= 0, zeros added on both sides

    Returns
    -------
    out : (N, F, Ho, Wo) of x's dtype, ``Ho = (H + 2 ph - kh) // sy + 1`` (likewise ``Wo``)
    cache : Conv2dCache, for :func:`conv2d_backward` (holds ``x`` itself, not a
        copy: do not modify ``x`` in place before the backward pass)
    """
    xp = get_array_module(x)
    stride, padding = pair(stride), pair(padding)
    (N, _, H, W), (F, _, kh, kw) = x.shape, weight.shape
    Ho, Wo = output_size(H, kh, stride[0], padding[0]), output_size(W, kw, stride[1], padding[1])
    w_mat = weight.transpose(0, 2, 3, 1).reshape(F, -1)  # rows (i, j, c), like Col
    out = w_mat @ _col(x, (kh, kw), stride, padding, (Ho, Wo))  # (F, N*Ho*Wo)
    out = out.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3)
    if bias is not None:
        out = out + bias.reshape(1, F, 1, 1)
    return xp.ascontiguousarray(out), Conv2dCache(x, weight, stride, padding, bias is not None)


def check_conv2d_backward(dout, cache, out_shape):
    check_like(dout, cache.x, out_shape)


def conv2d_backward(dout, cache, need_dx=True):
    """Gradients of :func:`conv2d_forward` with respect to x, weight and bias.

    Parameters
    ----------
    dout : (N, F, Ho, Wo) array, gradient with respect to ``out``, on x's device
    cache : Conv2dCache from the forward pass
    need_dx : False skips ``dx`` (returned as None): a network's input images
        need no gradient, and for the first layer dx is most of the work

    Returns
    -------
    dx : (N, C, H, W), ``col2im(Wm^T G)``, or None when ``need_dx`` is False
    dweight : (F, C, kh, kw), ``G Col^T``
    dbias : (F,), or None when the forward had no bias
    """
    x, weight, stride, padding, has_bias = cache
    xp = get_array_module(dout)
    (N, C, H, W), (F, _, kh, kw) = x.shape, weight.shape
    Ho, Wo = output_size(H, kh, stride[0], padding[0]), output_size(W, kw, stride[1], padding[1])
    check_conv2d_backward(dout, cache, (N, F, Ho, Wo))
    g = dout.transpose(1, 0, 2, 3).reshape(F, N * Ho * Wo)  # columns (n, oy, ox), like Col
    dw_mat = g @ _col(x, (kh, kw), stride, padding, (Ho, Wo)).T  # (F, kh*kw*C)
    dweight = xp.ascontiguousarray(dw_mat.reshape(F, kh, kw, C).transpose(0, 3, 1, 2))
    dbias = dout.sum(axis=(0, 2, 3)) if has_bias else None
    if not need_dx:
        return None, dweight, dbias
    w_mat = weight.transpose(0, 2, 3, 1).reshape(F, -1)
    dcol = (w_mat.T @ g).reshape(kh, kw, C, N, Ho, Wo)
    dx = col2im(dcol, (C, N, H, W), stride, padding).transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(dx), dweight, dbias
