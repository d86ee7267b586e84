"""Convolution on the CPU: the sums of :mod:`emsm_np.functional.conv2d` in cheaper orders.

The reference (``functional/conv2d.py``) builds the whole ``Col`` and computes
``Out = Wm Col``, ``dWm = G Col^T`` and ``dx = col2im(Wm^T G)``. This module
computes the same numbers (``tests/test_cpu_routes.py`` ties every route to the
reference, forward and every gradient) with three devices.

The flipped-kernel input gradient. Writing out ``col2im(Wm^T G)``::

    dx[n, c, y, x] = sum_{f, i, j} w[f, c, i, j] * g[n, f, oy, ox]
                     over oy*sy + i = y + ph,  ox*sx + j = x + pw

Spread ``g`` on a grid of spacing ``(sy, sx)`` starting at ``(kh-1, kw-1)``, in a
zero array ``gd``; then ``oy*sy = y + ph - i`` lands on ``gd`` row
``y + ph + (kh-1-i)``, and with the flipped kernel ``wf[f, c, i', j'] =
w[f, c, kh-1-i', kw-1-j']``::

    dx[n, c, y, x] = sum_{f, i', j'} wf[f, c, i', j'] * gd[n, f, ph + y + i', pw + x + j']

a stride-1 convolution of ``gd`` (cropped by the padding) with ``wf``, whose
channels are the F filters: ``dx = Wf @ im2col(gd)``. This swaps col2im's
kh*kw read-modify-write passes over the image for one more im2col and a GEMM
with a small output. With fewer input than output channels (``C < F``, a
network's first layer) the textbook ``col2im`` touches less memory and is kept.

Speed (CPU). ``Col`` is kh*kw times larger than ``x`` (115 MB for a batch of 64,
64 channels, 28x28, 3x3), so building it whole costs more than the GEMMs'
arithmetic would suggest: it streams through main memory, and every fresh large
array is page-faulted in. Both passes therefore walk the batch in chunks whose
``Col`` is about ``COL_CHUNK_BYTES``: a chunk's columns are written, multiplied
and dropped while still in cache, and one buffer serves every chunk. Each
column of ``Out`` and ``dCol`` depends on its own column of ``Col`` only (and
``dWm`` is a sum over columns), so blocking the batch changes the order of the
work, not what is computed. The backward pass rebuilds each chunk's ``Col`` from
``x`` rather than keeping the forward's (holding a 115 MB ``Col`` means fresh
pages on every call), and it keeps the cache small. The chunks are shared between worker threads
(:mod:`emsm_np.cpu.threads`), each with its own buffer and a one-thread BLAS: the
copies and sums then use every core, not only the GEMMs. The number of chunks
does not depend on the thread count, and ``dWm`` is summed per chunk, the
chunks' sums added in chunk order: the same numbers on any machine.

At stride 1 with enough input channels (``kw*C >= ROWS_MIN_DEPTH``) the forward
and the weight gradient, and (with ``kw*F >= ROWS_MIN_DEPTH``) the input gradient
by the flipped-kernel form, run instead through a row im2col (kw copies of the
input instead of kh*kw, then one GEMM and kh shifted sums; ``conv2d_rows.py``
derives it). Every network in ``emsm_np.models`` takes that route for all but
its first convolution, whose thin ``Wm`` (kh*kw*C <= ``PER_IMAGE_MAX_DEPTH``) is
multiplied by one GEMM per image, written straight into the output (no
transposed copy). Measured speeds are in ``docs/results``.
"""
from collections import namedtuple

import numpy as np

from ..functional.conv2d import check_conv2d_backward, check_conv2d_inputs
from ..functional.im2col import col2im, im2col, output_size
from . import conv2d_rows as rows
from .threads import map_pieces, sum_in_order

COL_CHUNK_BYTES = 4 * 2**20
MIN_CHUNKS = 8  # the batch is cut into at least this many chunks, whatever the thread count
# Up to this many rows of Col (kh*kw*C: a first layer's 1 or 3 channels), Wm is
# so thin that one GEMM per image, writing straight into out's (F, Ho*Wo) block,
# beats one big GEMM and the transposed copy of its result.
PER_IMAGE_MAX_DEPTH = 64

CpuConv2dCache = namedtuple(
    "CpuConv2dCache", ["x", "w_mat", "kernel_size", "stride", "padding", "has_bias"]
)
CpuConv2dCache.__doc__ = "x, the weight as the (F, kh*kw*C) matrix Wm, the geometry (pairs), whether there is a bias."


def _batch_chunks(n, col_bytes_per_item):
    """Slices of the batch, of near-equal size, each with a Col of at most ~COL_CHUNK_BYTES,
    and at least MIN_CHUNKS of them (if the batch allows): a function of the shapes only."""
    pieces = max(1, min(n, max(MIN_CHUNKS, -(-n * col_bytes_per_item // COL_CHUNK_BYTES))))
    size = -(-n // pieces)
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]


def _chunk_col(x, chunk, kernel_size, stride, padding, out_size, buf):
    """Col of ``x[chunk]`` as a (kh*kw*C, m*Ho*Wo) matrix, written into the flat ``buf``."""
    (kh, kw), (Ho, Wo), C, m = kernel_size, out_size, x.shape[1], chunk.stop - chunk.start
    col = buf[: kh * kw * C * m * Ho * Wo].reshape(kh, kw, C, m, Ho, Wo)
    # Passing x as a (C, m, H, W) view makes im2col's copy put channels before
    # the batch, so col reshapes to the GEMM operand without another copy.
    im2col(x[chunk].transpose(1, 0, 2, 3), kernel_size, stride, padding, out_size, out=col)
    return col.reshape(kh * kw * C, m * Ho * Wo)


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """As :func:`emsm_np.functional.conv2d.conv2d_forward`, for NumPy arrays.

    Returns ``(out, cache)`` with a :class:`CpuConv2dCache` for :func:`conv2d_backward`.
    """
    xp = np
    stride, padding, (Ho, Wo) = check_conv2d_inputs(x, weight, bias, stride, padding)
    N, C, H, W = x.shape
    F, _, kh, kw = weight.shape
    w_mat = weight.transpose(0, 2, 3, 1).reshape(F, kh * kw * C)  # rows (i, j, c) like Col
    dtype = xp.result_type(x, weight)

    out = xp.empty((N, F, Ho, Wo), dtype=dtype)
    if rows.takes_rows(stride, kw, C):
        bytes_per_item = rows.rows_bytes_per_item(C, F, (kh, kw), H + 2 * padding[0], Wo, x.dtype.itemsize)
        chunks = _batch_chunks(N, bytes_per_item)
        rows.conv2d_rows(x, weight.transpose(0, 2, 3, 1), padding, chunks, out, bias)
        return out, CpuConv2dCache(x, w_mat, (kh, kw), stride, padding, bias is not None)
    per_image = kh * kw * C <= PER_IMAGE_MAX_DEPTH

    def run(group):  # the chunks of one worker thread (threads.py), through its own buffer
        buf = xp.empty(kh * kw * C * max(c.stop - c.start for c in group) * Ho * Wo, dtype=x.dtype)
        for chunk in group:
            col = _chunk_col(x, chunk, (kh, kw), stride, padding, (Ho, Wo), buf)
            if per_image:  # out[n] = Wm @ Col[:, columns of image n], for every n of the chunk
                m = chunk.stop - chunk.start
                out_n = out[chunk].reshape(m, F, Ho * Wo)
                xp.matmul(w_mat, col.reshape(kh * kw * C, m, Ho * Wo).transpose(1, 0, 2), out=out_n)
                if bias is not None:
                    out_n += bias.reshape(1, F, 1)
                continue
            out_mat = (w_mat @ col).reshape(F, -1, Ho, Wo)  # (F, m, Ho, Wo)
            # Back to (m, F, Ho, Wo); the bias is added during that one copy.
            out_mat = out_mat.transpose(1, 0, 2, 3)
            if bias is None:
                out[chunk] = out_mat
            else:
                xp.add(out_mat, bias.reshape(1, F, 1, 1), out=out[chunk])
        return [None] * len(group)

    map_pieces(xp, run, _batch_chunks(N, kh * kw * C * Ho * Wo * x.dtype.itemsize))
    return out, CpuConv2dCache(x, w_mat, (kh, kw), stride, padding, bias is not None)


def conv2d_backward(dout, cache, need_dx=True):
    """As :func:`emsm_np.functional.conv2d.conv2d_backward`, for NumPy arrays and a CpuConv2dCache.

    ``dx`` takes one of three equal forms. At stride 1, with ``kw*F >=
    ROWS_MIN_DEPTH`` and padding below the kernel size, the flipped-kernel
    convolution through the row im2col (``conv2d_rows.py``, ``dout`` padded by
    ``kh - 1 - ph``). Otherwise whichever touches less memory: with fewer input
    than output channels (``C < F``, e.g. a network's first layer) the textbook
    ``col2im(Wm^T G)``, whose ``dCol`` has kh*kw*C rows; else the flipped-kernel
    convolution through im2col, whose ``im2col(gd)`` has kh*kw*F rows.

    Returns ``(dx, dweight, dbias)`` as the reference does.
    """
    xp = np
    x, w_mat, (kh, kw), stride, padding, has_bias = cache
    N, C, H, W = x.shape
    F = w_mat.shape[0]
    Ho, Wo = output_size(H, kh, stride[0], padding[0]), output_size(W, kw, stride[1], padding[1])
    check_conv2d_backward(dout, cache, (N, F, Ho, Wo))
    dtype = xp.result_type(dout, w_mat)
    (sy, sx), (ph, pw) = stride, padding

    dbias = dout.sum(axis=(0, 2, 3)) if has_bias else None
    dx = xp.empty((N, C, H, W), dtype=dtype) if need_dx else None
    # Wf: the flipped kernel with the roles of C and F swapped, axes (c, i', j', f).
    wf4 = w_mat.reshape(F, kh, kw, C)[:, ::-1, ::-1, :].transpose(3, 1, 2, 0)
    loop_dx = need_dx  # dx in the chunk loop below, by col2im or by im2col(gd)
    if need_dx and rows.takes_rows(stride, kw, F) and ph < kh and pw < kw:
        # dx = dout convolved with Wf, padded by (kh-1-ph, kw-1-pw): a stride-1
        # convolution from F channels to C, at H x W.
        dx_padding = (kh - 1 - ph, kw - 1 - pw)
        bytes_per_item = rows.rows_bytes_per_item(F, C, (kh, kw), Ho + 2 * dx_padding[0], W, dtype.itemsize)
        rows.conv2d_rows(dout, wf4, dx_padding, _batch_chunks(N, bytes_per_item), dx)
        loop_dx = False
    loop_dw = True  # dW in the chunk loop below, as Col G^T
    if rows.takes_rows(stride, kw, C):  # the forward's route
        bytes_per_item = rows.rows_bytes_per_item(C, F, (kh, kw), H + 2 * ph, Wo, x.dtype.itemsize)
        dweight = rows.conv2d_rows_weight_grad(x, dout, (kh, kw), padding, _batch_chunks(N, bytes_per_item))
        if not loop_dx:
            return dx, dweight, dbias
        loop_dw = False
    textbook_dx = C < F
    flipped_dx = loop_dx and not textbook_dx
    wf_mat = wf4.reshape(C, kh * kw * F) if flipped_dx else None  # columns (i', j', f)
    per_image = kh * kw * C <= PER_IMAGE_MAX_DEPTH  # thin Col: dW as a sum of per-image products
    # gd must hold g's last row, at (kh-1) + (Ho-1)*sy, and every row that dx reads.
    gd_rows = max(kh + (Ho - 1) * sy, ph + H + kh - 1)
    gd_cols = max(kw + (Wo - 1) * sx, pw + W + kw - 1)

    def run(group):  # one worker thread's chunks: their dx, and each chunk's part of dWm^T
        largest = max(c.stop - c.start for c in group)
        col_buf = xp.empty(kh * kw * C * largest * Ho * Wo, dtype=x.dtype) if loop_dw else None
        gcol_buf = xp.empty(kh * kw * F * largest * H * W, dtype=dtype) if flipped_dx else None
        dw_parts = []
        for chunk in group:
            m = chunk.stop - chunk.start
            g = dout[chunk].transpose(1, 0, 2, 3)  # (F, m, Ho, Wo): columns (n, oy, ox) like Col
            if loop_dw:
                col = _chunk_col(x, chunk, (kh, kw), stride, padding, (Ho, Wo), col_buf)
                if per_image:
                    col_n = col.reshape(kh * kw * C, m, Ho * Wo).transpose(1, 0, 2)
                    dw_parts.append(xp.matmul(col_n, dout[chunk].reshape(m, F, Ho * Wo).transpose(0, 2, 1)).sum(axis=0))
                else:
                    # dWm^T = Col G^T, summed over chunks (this orientation of the product
                    # ran faster than G Col^T in OpenBLAS at LiuNet's shapes)
                    dw_parts.append(col @ g.reshape(F, m * Ho * Wo).T)
            else:
                dw_parts.append(None)
            if not loop_dx:
                continue
            if textbook_dx:  # dx = col2im(Wm^T G): dCol has kh*kw*C rows, fewer than kh*kw*F
                dcol = (w_mat.T @ g.reshape(F, m * Ho * Wo)).reshape(kh, kw, C, m, Ho, Wo)
                dx[chunk] = col2im(dcol, (C, m, H, W), stride, padding).transpose(1, 0, 2, 3)
                continue
            gd = xp.zeros((F, m, gd_rows, gd_cols), dtype=dtype)
            gd[:, :, kh - 1 : kh - 1 + sy * Ho : sy, kw - 1 : kw - 1 + sx * Wo : sx] = g
            gcol = gcol_buf[: kh * kw * F * m * H * W].reshape(kh, kw, F, m, H, W)
            im2col(gd[:, :, ph:, pw:], (kh, kw), (1, 1), (0, 0), (H, W), out=gcol)
            dx_mat = wf_mat @ gcol.reshape(kh * kw * F, m * H * W)  # dx = Wf im2col(gd)
            dx[chunk] = dx_mat.reshape(C, m, H, W).transpose(1, 0, 2, 3)
        return dw_parts

    parts = map_pieces(xp, run, _batch_chunks(N, kh * kw * C * Ho * Wo * x.dtype.itemsize))
    if loop_dw:
        dw_t = sum_in_order(parts)
        dweight = xp.ascontiguousarray(dw_t.reshape(kh, kw, C, F).transpose(3, 2, 0, 1))
    return dx, dweight, dbias
