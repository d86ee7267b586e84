"""Convolution on the CPU: the sums of :mod:`emsm_np.functional.conv2d` in cheaper orders.

The reference (``functional/conv2d.py``) builds the whole ``Col`` and computes
``Out = Wm Col``, ``dWm = G Col^T`` and ``dx = col2im(Wm^T G)``. This module
computes the same numbers (``tests/test_cpu_routes.py`` ties every strategy to
the reference, forward and every gradient) by one of three strategies per pass,
each a function below, picked by two rules (the first line that applies)::

    forward and dW (_choose_forward_and_dw: both read x through the same Col)
      stride 1, kw*C >= ROWS_MIN_DEPTH        _forward_rows        _dw_rows
      kh*kw*C <= PER_IMAGE_MAX_DEPTH          _forward_per_image   _dw_per_image
      otherwise                               _forward_im2col      _dw_im2col
    dx (_choose_dx)
      stride 1, kw*F >= ROWS_MIN_DEPTH,
        padding below the kernel size         _dx_rows
      C < F                                   _dx_col2im
      otherwise                               _dx_flipped

Every network in ``emsm_np.models`` takes the row strategies for all but its
first convolution; that one has a thin ``Wm`` and needs no ``dx``. Measured
speeds are in ``docs/results``.

Batch chunks. ``Col`` is kh*kw times larger than ``x`` (115 MB for a batch of
64, 64 channels, 28x28, 3x3), so building it whole costs more than the GEMMs'
arithmetic would suggest: it streams through main memory, and every fresh large
array is page-faulted in. Every strategy therefore walks the batch in chunks
whose ``Col`` (or row im2col) is about ``COL_CHUNK_BYTES``: a chunk's columns
are written, multiplied and dropped while still in cache, and one buffer serves
every chunk. Each column of ``Out`` and ``dCol`` depends on its own column of
``Col`` only (and ``dWm`` is a sum over columns), so blocking the batch changes
the order of the work, not what is computed. The backward pass rebuilds each
chunk's ``Col`` from ``x`` rather than keeping the forward's (holding a 115 MB
``Col`` means fresh pages on every call). The chunks are shared between worker
threads (:mod:`emsm_np.cpu.threads`), each with its own buffer and a one-thread
BLAS: the copies and sums then use every core, not only the GEMMs. The number
of chunks does not depend on the thread count, and ``dW`` is summed per chunk,
the chunks' sums added in chunk order: the same numbers on any machine.

The flipped-kernel input gradient (``_dx_flipped``, ``_dx_rows``). Writing out
``col2im(Wm^T G)``::

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
with a small output. At stride 1, ``gd`` is ``g`` padded by ``kh - 1 - ph``, and
the row im2col computes the convolution.
"""
from collections import namedtuple

import numpy as np

from ..functional._inputs import pair
from ..functional.conv2d import check_conv2d_backward
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


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """As :func:`emsm_np.functional.conv2d.conv2d_forward`, for NumPy arrays.

    Returns ``(out, cache)`` with a :class:`CpuConv2dCache` for :func:`conv2d_backward`.
    """
    stride, padding = pair(stride), pair(padding)
    N, C, H, W = x.shape
    F, _, kh, kw = weight.shape
    Ho, Wo = output_size(H, kh, stride[0], padding[0]), output_size(W, kw, stride[1], padding[1])
    w_mat = weight.transpose(0, 2, 3, 1).reshape(F, kh * kw * C)  # rows (i, j, c) like Col
    out = np.empty((N, F, Ho, Wo), dtype=np.result_type(x, weight))
    forward, _ = _choose_forward_and_dw(stride, (kh, kw), C)
    forward(x, weight, w_mat, bias, stride, padding, out)
    return out, CpuConv2dCache(x, w_mat, (kh, kw), stride, padding, bias is not None)


def conv2d_backward(dout, cache, need_dx=True):
    """As :func:`emsm_np.functional.conv2d.conv2d_backward`, for NumPy arrays and a CpuConv2dCache.

    ``dW`` takes the forward's strategy; ``dx`` one of three equal forms
    (``_choose_dx``). Returns ``(dx, dweight, dbias)`` as the reference does.
    """
    x, w_mat, (kh, kw), stride, padding, has_bias = cache
    N, C, H, W = x.shape
    F = w_mat.shape[0]
    Ho, Wo = output_size(H, kh, stride[0], padding[0]), output_size(W, kw, stride[1], padding[1])
    check_conv2d_backward(dout, cache, (N, F, Ho, Wo))

    dbias = dout.sum(axis=(0, 2, 3)) if has_bias else None
    _, weight_grad = _choose_forward_and_dw(stride, (kh, kw), C)
    dweight = weight_grad(dout, x, (kh, kw), stride, padding)
    dx = None
    if need_dx:
        dx = _choose_dx(stride, (kh, kw), padding, C, F)(dout, x, w_mat, (kh, kw), stride, padding)
    return dx, dweight, dbias


def _choose_forward_and_dw(stride, kernel_size, C):
    """The forward and ``dW`` strategies for this geometry, as a pair of functions.

    One rule for both: ``dW = G Col^T`` reads ``x`` through the same ``Col`` (or
    row im2col) as the forward, and what makes that cheap for one makes it cheap
    for the other.
    """
    kh, kw = kernel_size
    if rows.takes_rows(stride, kw, C):
        # Stride 1 and kw*C >= ROWS_MIN_DEPTH: copying x kw times instead of kh*kw
        # saves more than the GEMM's sums over unused padded rows cost (measured at
        # LeNet's and LiuNet's layers: conv2d_rows.py).
        return _forward_rows, _dw_rows
    if kh * kw * C <= PER_IMAGE_MAX_DEPTH:
        # A thin Wm (a first layer): one GEMM per image writes straight into the output.
        return _forward_per_image, _dw_per_image
    return _forward_im2col, _dw_im2col


def _choose_dx(stride, kernel_size, padding, C, F):
    """The ``dx`` strategy for this geometry: the row im2col where it applies, else the
    form whose large matrix is the smaller one."""
    (kh, kw), (ph, pw) = kernel_size, padding
    if rows.takes_rows(stride, kw, F) and ph < kh and pw < kw:
        # dx is a stride-1 convolution of dout, F channels in: wide enough for the
        # row im2col, and its padding kh-1-ph, kw-1-pw is not negative.
        return _dx_rows
    if C < F:
        # dCol has kh*kw*C rows, fewer than im2col(gd)'s kh*kw*F (e.g. a first layer).
        return _dx_col2im
    return _dx_flipped


# Chunks and Col ------------------------------------------------------------------------------------


def _batch_chunks(n, col_bytes_per_item):
    """Slices of the batch, of near-equal size, each with a Col of at most ~COL_CHUNK_BYTES,
    and at least MIN_CHUNKS of them (if the batch allows): a function of the shapes only."""
    pieces = max(1, min(n, max(MIN_CHUNKS, -(-n * col_bytes_per_item // COL_CHUNK_BYTES))))
    size = -(-n // pieces)
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]


def _col_chunks(x, kernel_size, out_size):
    """The batch chunks of the im2col strategies, sized by the Col of ``x`` (kh*kw*C rows of
    Ho*Wo columns per image). The forward, ``dW`` and ``dx`` walk the same chunks."""
    (kh, kw), (Ho, Wo) = kernel_size, out_size
    return _batch_chunks(x.shape[0], kh * kw * x.shape[1] * Ho * Wo * x.dtype.itemsize)


def _chunk_col(x, chunk, kernel_size, stride, padding, out_size, buf):
    """Col of ``x[chunk]`` as a (kh*kw*C, m*Ho*Wo) matrix, written into the flat ``buf``."""
    (kh, kw), (Ho, Wo), C, m = kernel_size, out_size, x.shape[1], chunk.stop - chunk.start
    col = buf[: kh * kw * C * m * Ho * Wo].reshape(kh, kw, C, m, Ho, Wo)
    # Passing x as a (C, m, H, W) view makes im2col's copy put channels before
    # the batch, so col reshapes to the GEMM operand without another copy.
    im2col(x[chunk].transpose(1, 0, 2, 3), kernel_size, stride, padding, out_size, out=col)
    return col.reshape(kh * kw * C, m * Ho * Wo)


def _map_col_chunks(x, kernel_size, stride, padding, out_size, fn):
    """``fn(chunk, col)`` for every chunk of ``_col_chunks``, ``col`` its (kh*kw*C, m*Ho*Wo)
    Col; returns the results in chunk order. Each worker thread reuses one buffer for its chunks."""
    (kh, kw), (Ho, Wo), C = kernel_size, out_size, x.shape[1]

    def run(group):
        buf = np.empty(kh * kw * C * max(c.stop - c.start for c in group) * Ho * Wo, dtype=x.dtype)
        return [fn(chunk, _chunk_col(x, chunk, kernel_size, stride, padding, out_size, buf)) for chunk in group]

    return map_pieces(np, run, _col_chunks(x, kernel_size, out_size))


# The forward: out (N, F, Ho, Wo) from x (N, C, H, W) ------------------------------------------------
#
# Each takes the weight both as given, (F, C, kh, kw), and as w_mat, the (F, kh*kw*C)
# matrix Wm with rows (i, j, c) like Col's, and uses the one it multiplies by; it
# writes into out.


def _forward_rows(x, weight, w_mat, bias, stride, padding, out):
    """``out = conv(x, w) + b`` at stride 1 by the row im2col: ``out[:, :, oy] = sum_i P_i[oy + i]``,
    ``P = Wr R`` (``conv2d_rows.py``).

    The fast choice at stride 1 with ``kw*C >= ROWS_MIN_DEPTH`` (every layer of a
    network but its first): ``R`` (kw*C, m*Hb*Wo) copies x kw times where ``Col``
    copies it kh*kw times, and that copy cost as much as the GEMM at LeNet's and
    LiuNet's shapes.
    """
    N, C, H, _ = x.shape
    F, _, kh, kw = weight.shape
    bytes_per_item = rows.rows_bytes_per_item(C, F, (kh, kw), H + 2 * padding[0], out.shape[3], x.dtype.itemsize)
    rows.conv2d_rows(x, weight.transpose(0, 2, 3, 1), padding, _batch_chunks(N, bytes_per_item), out, bias)


def _forward_per_image(x, weight, w_mat, bias, stride, padding, out):
    """``out[n] = Wm Col_n + b`` (F, Ho*Wo), one GEMM per image, ``Col_n`` (kh*kw*C, Ho*Wo) the
    image's columns of its chunk's Col.

    The fast choice when ``Wm`` is thin (``kh*kw*C <= PER_IMAGE_MAX_DEPTH``: a
    first layer's 1 or 3 channels): one chunk-wide GEMM would give an (F, m, Ho, Wo)
    result, large next to its cheap arithmetic, that must be copied again into
    out's (m, F, Ho, Wo) order; here each product lands in place.
    """
    F, (Ho, Wo) = out.shape[1], out.shape[2:]

    def product(chunk, col):
        m = chunk.stop - chunk.start
        out_n = out[chunk].reshape(m, F, Ho * Wo)
        np.matmul(w_mat, col.reshape(col.shape[0], m, Ho * Wo).transpose(1, 0, 2), out=out_n)
        if bias is not None:
            out_n += bias.reshape(1, F, 1)

    _map_col_chunks(x, weight.shape[2:], stride, padding, (Ho, Wo), product)


def _forward_im2col(x, weight, w_mat, bias, stride, padding, out):
    """``Out = Wm Col + b``, one GEMM (F, kh*kw*C) x (kh*kw*C, m*Ho*Wo) per chunk: the reference's
    product, chunk by chunk.

    The choice where neither trick applies: a stride above 1, or between the two
    thresholds (kw*C < ROWS_MIN_DEPTH < kh*kw*C).
    """
    F, (Ho, Wo) = out.shape[1], out.shape[2:]

    def product(chunk, col):
        out_mat = (w_mat @ col).reshape(F, -1, Ho, Wo).transpose(1, 0, 2, 3)  # (m, F, Ho, Wo) view
        # One copy back to out's order, the bias added during it.
        if bias is None:
            out[chunk] = out_mat
        else:
            np.add(out_mat, bias.reshape(1, F, 1, 1), out=out[chunk])

    _map_col_chunks(x, weight.shape[2:], stride, padding, (Ho, Wo), product)


# The weight gradient: dW (F, C, kh, kw) from dout (N, F, Ho, Wo) and x ---------------------------------


def _dw_rows(dout, x, kernel_size, stride, padding):
    """``dWr = Gv R^T``, ``Gv`` the output gradient spread kh times over the padded rows and ``R``
    the forward's row im2col (``conv2d_rows.conv2d_rows_weight_grad``).

    Where ``_forward_rows`` is the fast forward, for the same reason: R copies
    x kw times, not kh*kw.
    """
    N, C, H, _ = x.shape
    F, Wo = dout.shape[1], dout.shape[3]
    bytes_per_item = rows.rows_bytes_per_item(C, F, kernel_size, H + 2 * padding[0], Wo, x.dtype.itemsize)
    return rows.conv2d_rows_weight_grad(x, dout, kernel_size, padding, _batch_chunks(N, bytes_per_item))


def _dw_per_image(dout, x, kernel_size, stride, padding):
    """``dWm^T = sum_n Col_n G_n^T``, one (kh*kw*C, Ho*Wo) x (Ho*Wo, F) product per image, summed
    per chunk, then over chunks in order.

    Where ``_forward_per_image`` is the fast forward (a thin ``Col``): ``G_n``
    is image n's (F, Ho*Wo) block of dout as it lies, with no transposed copy of
    dout's chunk into the (F, m*Ho*Wo) matrix ``G``.
    """
    F, Ho, Wo = dout.shape[1:]

    def product(chunk, col):
        m = chunk.stop - chunk.start
        col_n = col.reshape(col.shape[0], m, Ho * Wo).transpose(1, 0, 2)
        return np.matmul(col_n, dout[chunk].reshape(m, F, Ho * Wo).transpose(0, 2, 1)).sum(axis=0)

    dw_t = sum_in_order(_map_col_chunks(x, kernel_size, stride, padding, (Ho, Wo), product))
    return _dweight(dw_t, kernel_size, x.shape[1], F)


def _dw_im2col(dout, x, kernel_size, stride, padding):
    """``dWm^T = sum over chunks of Col G^T``, ``Col`` (kh*kw*C, m*Ho*Wo), ``G`` (F, m*Ho*Wo): the
    reference's product, chunk by chunk.

    Where ``_forward_im2col`` is the forward. ``Col G^T`` rather than
    ``G Col^T``: that orientation ran faster in OpenBLAS at LiuNet's shapes.
    """
    F, Ho, Wo = dout.shape[1:]

    def product(chunk, col):
        m = chunk.stop - chunk.start
        g = dout[chunk].transpose(1, 0, 2, 3)  # (F, m, Ho, Wo): columns (n, oy, ox) like Col
        return col @ g.reshape(F, m * Ho * Wo).T

    dw_t = sum_in_order(_map_col_chunks(x, kernel_size, stride, padding, (Ho, Wo), product))
    return _dweight(dw_t, kernel_size, x.shape[1], F)


def _dweight(dw_t, kernel_size, C, F):
    """dW (F, C, kh, kw) from ``dWm^T`` (kh*kw*C, F), rows (i, j, c)."""
    kh, kw = kernel_size
    return np.ascontiguousarray(dw_t.reshape(kh, kw, C, F).transpose(3, 2, 0, 1))


# The input gradient: dx (N, C, H, W) from dout (N, F, Ho, Wo) and Wm ------------------------------------
#
# The loops of _dx_col2im and _dx_flipped walk the chunks of the forward's Col
# (_col_chunks), whatever their own arrays' sizes.


def _flipped_kernel(w_mat, kernel_size, C):
    """``Wf``: the kernel flipped in both spatial axes, C and F swapped, as a (C, kh, kw, F) view."""
    kh, kw = kernel_size
    return w_mat.reshape(w_mat.shape[0], kh, kw, C)[:, ::-1, ::-1, :].transpose(3, 1, 2, 0)


def _dx_rows(dout, x, w_mat, kernel_size, stride, padding):
    """``dx = conv(dout, Wf)`` at stride 1 with padding ``(kh-1-ph, kw-1-pw)``, by the row im2col:
    the flipped-kernel form (module docstring), F channels in and C out.

    The fast choice at stride 1 when ``kw*F >= ROWS_MIN_DEPTH`` (the row im2col's
    threshold, with dout's F channels as its input), for the forward's reason, and
    with ``ph < kh``, ``pw < kw`` (a padding of ``kh - 1 - ph`` must not be negative).
    """
    N, C, H, W = x.shape
    (kh, kw), (ph, pw), F, Ho = kernel_size, padding, w_mat.shape[0], dout.shape[2]
    dtype = np.result_type(dout, w_mat)
    dx = np.empty((N, C, H, W), dtype=dtype)
    dx_padding = (kh - 1 - ph, kw - 1 - pw)
    bytes_per_item = rows.rows_bytes_per_item(F, C, (kh, kw), Ho + 2 * dx_padding[0], W, dtype.itemsize)
    rows.conv2d_rows(dout, _flipped_kernel(w_mat, kernel_size, C), dx_padding, _batch_chunks(N, bytes_per_item), dx)
    return dx


def _dx_col2im(dout, x, w_mat, kernel_size, stride, padding):
    """``dx = col2im(Wm^T G)``, ``dCol = Wm^T G`` (kh*kw*C, m*Ho*Wo) per chunk: the reference's form.

    The fast choice, where the row im2col does not apply, with fewer input than
    output channels (``C < F``): its ``dCol`` has kh*kw*C rows, fewer than the
    kh*kw*F of the flipped form's ``im2col(gd)``.
    """
    N, C, H, W = x.shape
    (kh, kw), F, (Ho, Wo) = kernel_size, w_mat.shape[0], dout.shape[2:]
    dx = np.empty((N, C, H, W), dtype=np.result_type(dout, w_mat))

    def run(group):
        for chunk in group:
            m = chunk.stop - chunk.start
            g = dout[chunk].transpose(1, 0, 2, 3)  # (F, m, Ho, Wo): columns (n, oy, ox) like Col
            dcol = (w_mat.T @ g.reshape(F, m * Ho * Wo)).reshape(kh, kw, C, m, Ho, Wo)
            dx[chunk] = col2im(dcol, (C, m, H, W), stride, padding).transpose(1, 0, 2, 3)
        return [None] * len(group)

    map_pieces(np, run, _col_chunks(x, kernel_size, (Ho, Wo)))
    return dx


def _dx_flipped(dout, x, w_mat, kernel_size, stride, padding):
    """``dx = Wf im2col(gd)``, ``Wf`` (C, kh*kw*F), ``im2col(gd)`` (kh*kw*F, m*H*W) per chunk: the
    flipped-kernel form (module docstring), at any stride.

    The fast choice, where the row im2col does not apply, with at least as many
    input as output channels (``C >= F``): ``im2col(gd)`` has kh*kw*F rows, no more
    than ``dCol``'s kh*kw*C, and it replaces col2im's kh*kw read-modify-write
    passes over the image by one copy and a GEMM with a small output.
    """
    N, C, H, W = x.shape
    (kh, kw), (sy, sx), (ph, pw), F, (Ho, Wo) = kernel_size, stride, padding, w_mat.shape[0], dout.shape[2:]
    dtype = np.result_type(dout, w_mat)
    dx = np.empty((N, C, H, W), dtype=dtype)
    wf_mat = _flipped_kernel(w_mat, kernel_size, C).reshape(C, kh * kw * F)  # columns (i', j', f)
    # gd must hold g's last row, at (kh-1) + (Ho-1)*sy, and every row that dx reads.
    gd_rows = max(kh + (Ho - 1) * sy, ph + H + kh - 1)
    gd_cols = max(kw + (Wo - 1) * sx, pw + W + kw - 1)

    def run(group):  # one worker thread's chunks, through its own im2col(gd) buffer
        gcol_buf = np.empty(kh * kw * F * max(c.stop - c.start for c in group) * H * W, dtype=dtype)
        for chunk in group:
            m = chunk.stop - chunk.start
            gd = np.zeros((F, m, gd_rows, gd_cols), dtype=dtype)
            gd[:, :, kh - 1 : kh - 1 + sy * Ho : sy, kw - 1 : kw - 1 + sx * Wo : sx] = dout[chunk].transpose(1, 0, 2, 3)
            gcol = gcol_buf[: kh * kw * F * m * H * W].reshape(kh, kw, F, m, H, W)
            im2col(gd[:, :, ph:, pw:], (kh, kw), (1, 1), (0, 0), (H, W), out=gcol)
            dx_mat = wf_mat @ gcol.reshape(kh * kw * F, m * H * W)
            dx[chunk] = dx_mat.reshape(C, m, H, W).transpose(1, 0, 2, 3)
        return [None] * len(group)

    map_pieces(np, run, _col_chunks(x, kernel_size, (Ho, Wo)))
    return dx
