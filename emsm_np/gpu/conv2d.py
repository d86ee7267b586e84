"""Convolution on the GPU: im2col as one gather, the whole batch as one batched GEMM.

The reference (:mod:`emsm_np.functional.conv2d`) builds Col with one strided copy
per kernel offset (kh*kw kernels, then transposes) and rebuilds it in the
backward; col2im adds kh*kw slices back. On a GPU each of those is a launch. Here
each step is one kernel, whatever the kernel size::

    cols[n, (c, i, j), (oy, ox)] = xpad[n, c, oy sy + i, ox sx + j]   one take() with an index made once per shape
    out[n]   = Wm cols[n] + b,  Wm = weight as (F, C kh kw)           one batched GEMM, one add
    dW       = sum_n dout[n] cols[n]^T                                one batched GEMM, one sum
    db       = sum dout                                               one reduction
    dx       = the correlation of dout, dilated by the stride and padded by k - 1,
               with the flipped kernel (the gradient of a correlation)   the same gather and GEMM

``cols`` is kept from the forward for the backward (memory for launches: for
liunet-mnist at batch 128 about 1.1 GB over the whole network). The rows of
``cols`` are ordered (c, i, j), as ``weight.reshape(F, -1)``, and its columns are
the output pixels of one image, so the GEMM writes (N, F, Ho*Wo): the output's
own layout, no transpose. ``dx`` sums its terms in a fixed order (no atomic
adds), so a step gives the same numbers every time.

The gather index of a shape is computed on the host once, uploaded once, and
kept on the device (:func:`window_index`); the zero-padded copy of the input (and
of ``dout`` for ``dx``) goes into a buffer kept per shape, whose border stays
zero, so padding is one copy (:func:`_zero_padded`).
"""
from collections import namedtuple

import numpy as np

from .._checks import check_like
from ..backend import get_array_module
from ..functional.im2col import output_size

GpuConv2dCache = namedtuple("GpuConv2dCache", ["x_shape", "weight", "cols", "stride", "padding", "has_bias"])
GpuConv2dCache.__doc__ = ("The input's shape, the weight (not a copy), the gathered windows (N, C kh kw, Ho Wo), "
                          "stride and padding pairs, whether there is a bias.")

_index_cache = {}
_padded_cache = {}  # (xp, x's shape, size, dtype, offset, step) -> a zero-bordered buffer, least recently used first
_PADDED_KEPT = 32  # buffers kept: a network's shapes in training and evaluation


def window_index(xp, channels, height, width, kernel_size, stride, out_size, origin=(0, 0)):
    """Device int32 index (C kh kw, Ho Wo) of every window element in a flattened (C, H, W) image.

    Entry ``[(c, i, j), (oy, ox)]`` is the flat position of ``[c, origin_y + oy sy + i,
    origin_x + ox sx + j]``. Made on the host and uploaded at the first call for a shape, then kept.
    """
    (kh, kw), (sy, sx), (Ho, Wo), (y0, x0) = kernel_size, stride, out_size, origin
    key = (xp, channels, height, width, kh, kw, sy, sx, Ho, Wo, y0, x0)
    index = _index_cache.get(key)
    if index is None:
        c = np.arange(channels).reshape(-1, 1, 1, 1, 1)
        i, j = np.arange(kh).reshape(1, -1, 1, 1, 1), np.arange(kw).reshape(1, 1, -1, 1, 1)
        oy, ox = np.arange(Ho).reshape(1, 1, 1, -1, 1), np.arange(Wo).reshape(1, 1, 1, 1, -1)
        flat = c * (height * width) + (y0 + oy * sy + i) * width + (x0 + ox * sx + j)
        index = _index_cache[key] = xp.asarray(flat.reshape(channels * kh * kw, Ho * Wo).astype(np.int32))
    return index


def _zero_padded(x, size, at, step=(1, 1)):
    """``x`` (N, C, h, w) placed every ``step``-th pixel from offset ``at`` in zeros of spatial ``size``:
    one kernel, a copy into a zero-bordered buffer kept for the shape (``x`` itself when there is
    nothing to add). The buffer is read by the gather that follows, before the next call refills it."""
    xp = get_array_module(x)
    (N, C, h, w), (y0, x0), (sy, sx) = x.shape, at, step
    if tuple(size) == (h, w):
        return x
    # The key fixes which places are written (x's shape, the offset and the step), so the others are
    # zero in every buffer: two layers whose buffers have one size but other contents get two buffers.
    key = (xp, x.shape, tuple(size), x.dtype, tuple(at), tuple(step))
    out = _padded_cache.pop(key, None)
    if out is None:
        out = xp.zeros((N, C) + tuple(size), dtype=x.dtype)  # only the places below are ever written
    _padded_cache[key] = out  # most recently used last
    while len(_padded_cache) > _PADDED_KEPT:
        _padded_cache.pop(next(iter(_padded_cache)))
    out[:, :, y0:y0 + (h - 1) * sy + 1:sy, x0:x0 + (w - 1) * sx + 1:sx] = x
    return out


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """As :func:`emsm_np.functional.conv2d.conv2d_forward`, for CuPy arrays: ``(out, GpuConv2dCache)``.

    ``stride`` and ``padding`` are pairs (checked by :mod:`emsm_np.ops`).
    """
    xp = get_array_module(x)
    (N, C, H, W), (F, _, kh, kw) = x.shape, weight.shape
    Ho, Wo = output_size(H, kh, stride[0], padding[0]), output_size(W, kw, stride[1], padding[1])
    xpad = _zero_padded(x, (H + 2 * padding[0], W + 2 * padding[1]), padding)
    index = window_index(xp, C, xpad.shape[2], xpad.shape[3], (kh, kw), stride, (Ho, Wo))
    cols = xp.take(xpad.reshape(N, -1), index, axis=1)  # (N, C kh kw, Ho Wo)
    out = xp.matmul(weight.reshape(F, -1), cols)  # (N, F, Ho Wo): one GEMM per image, one launch
    if bias is not None:
        out += bias.reshape(1, F, 1)
    return out.reshape(N, F, Ho, Wo), GpuConv2dCache(x.shape, weight, cols, stride, padding, bias is not None)


def conv2d_backward(dout, cache, need_dx=True, out=None):
    """As :func:`emsm_np.functional.conv2d.conv2d_backward`, for a :class:`GpuConv2dCache`:
    ``(dx or None, dweight, dbias or None)``. ``out``: None, or ``(dweight, dbias)`` arrays
    (``dbias`` None without a bias) that the gradients are written into (and returned)."""
    xp = get_array_module(dout)
    x_shape, weight, cols, stride, padding, has_bias = cache
    (N, C, H, W), (F, _, kh, kw) = x_shape, weight.shape
    Ho, Wo = output_size(H, kh, stride[0], padding[0]), output_size(W, kw, stride[1], padding[1])
    check_like(dout, cols, (N, F, Ho, Wo), ref_name="the forward's input")
    g = dout.reshape(N, F, Ho * Wo)
    dweight_out, dbias_out = out if out is not None else (None, None)
    per_image = xp.matmul(g, cols.transpose(0, 2, 1))  # (N, F, C kh kw)
    if dweight_out is None:
        dweight = per_image.sum(axis=0).reshape(weight.shape)
    else:
        per_image.sum(axis=0, out=dweight_out.reshape(F, -1))
        dweight = dweight_out
    dbias = dout.sum(axis=(0, 2, 3), out=dbias_out) if has_bias else None
    if not need_dx:
        return None, dweight, dbias
    # dx = dout (dilated by the stride, with k - 1 zeros before it) correlated with the flipped
    # kernel, at the rows and columns of the unpadded input.
    (ph, pw), (sy, sx) = padding, stride
    Hd = max(ph + H + kh - 1, kh - 1 + (Ho - 1) * sy + 1)
    Wd = max(pw + W + kw - 1, kw - 1 + (Wo - 1) * sx + 1)
    d = _zero_padded(dout, (Hd, Wd), (kh - 1, kw - 1), stride)
    index = window_index(xp, F, Hd, Wd, (kh, kw), (1, 1), (H, W), origin=(ph, pw))
    dcols = xp.take(d.reshape(N, -1), index, axis=1)  # (N, F kh kw, H W)
    flipped = xp.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
    dx = xp.matmul(flipped, dcols)  # (N, C, H W)
    return dx.reshape(N, C, H, W), dweight, dbias
