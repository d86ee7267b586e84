"""Stride-1 convolution with a row im2col: one GEMM, then kh shifted sums.

The forward rule of ``conv2d.py`` at stride 1, for the zero-padded input
``xpad`` (C, N, Hb, Wb), ``Hb = H + 2 ph``::

    out[n, f, oy, ox] = sum_{c, i, j} w[f, c, i, j] * xpad[c, n, oy + i, ox + j]

Split the sum over the kernel rows ``i`` from the sum over columns ``j`` and
channels ``c``. With the row im2col (``im2col_rows``, one copy per column offset
``j``, every padded row kept)::

    R[(j, c), (n, y, ox)] = xpad[c, n, y, ox + j]            (kw*C, N*Hb*Wo)

one GEMM with the kernel rows stacked, ``Wr[(i, f), (j, c)] = w[f, c, i, j]``,
gives every kernel row's partial sum at every padded row ``y``::

    P = Wr @ R,   P[(i, f), (n, y, ox)] = sum_{j, c} w[f, c, i, j] * xpad[c, n, y, ox + j]

and the output adds the kh partial sums, each read ``i`` rows lower::

    out[n, f, oy, ox] = sum_i P[(i, f), (n, oy + i, ox)]

Why: the full im2col copies the input kh*kw times in short strided rows, and
that copy cost as much as the GEMM at LiuNet's and LeNet's shapes. Here it is
copied kw times, the GEMM has kh*F rows instead of F (a shape OpenBLAS runs
faster) and does ``Hb/Ho`` times the arithmetic (the partial sums of the padded
rows that no output uses: 7% more at 28x28 with 3x3, 29% at 14x14 with 5x5),
and the kh sums read ``P`` with contiguous inner rows of ``Ho*Wo``. With few
input channels (``kw*C`` small: a network's first layer) the GEMM is too thin
and the full im2col wins, so ``conv2d.py`` uses this form only when
``kw*C >= ROWS_MIN_DEPTH``.

The same routine computes the input gradient at stride 1 (see ``conv2d.py``):
``dx`` is the convolution of ``dout`` with the flipped kernel, padding
``kh - 1 - ph``, whose "channels" are the F filters.
"""
import numpy as np

from .threads import map_pieces, sum_in_order

ROWS_MIN_DEPTH = 64  # kw*C from which the row form was measured faster than im2col


def im2col_rows(x, kernel_width, padding, out_width, out=None):
    """Row im2col: every horizontal kernel offset of ``x``, for a stride-1 window.

    Where :func:`im2col` copies the image once per kernel offset ``(i, j)``, this
    copies it once per column offset ``j`` only, keeping every padded row: the
    vertical offsets ``i`` are left to the caller, who reads them as row shifts
    of its result (see ``conv2d_rows.py``). That is ``kh`` times less copying.

    Parameters
    ----------
    x : (A, B, H, W) array (any two leading axes; may be a transposed view)
    kernel_width : int, kw
    padding : pair (ph, pw), zeros added on both sides
    out_width : int, ``Wo = W + 2 pw - kw + 1`` (stride 1)
    out : optional (kw, A, B, H + 2 ph, Wo) array to write into

    Returns
    -------
    rows : (kw, A, B, H + 2 ph, Wo) array of ``x.dtype``,
        ``rows[j, a, b, y, ox] = xpad[a, b, y, ox + j]``
    """
    xp = np
    A, B, H, W = x.shape
    (ph, pw), kw, Wo = padding, kernel_width, out_width
    rows = xp.empty((kw, A, B, H + 2 * ph, Wo), dtype=x.dtype) if out is None else out
    # Only the padding is zeroed (out may be a reused buffer): the top and bottom
    # rows, and per offset the columns whose window reaches past the left or right edge.
    rows[:, :, :, :ph] = 0
    rows[:, :, :, ph + H :] = 0
    for j in range(kw):
        lo, hi = max(0, pw - j), max(0, min(Wo, W + pw - j))  # columns that read x itself
        rows[j, :, :, ph : ph + H, :lo] = 0
        rows[j, :, :, ph : ph + H, max(lo, hi) :] = 0
        if hi > lo:
            rows[j, :, :, ph : ph + H, lo:hi] = x[:, :, :, lo + j - pw : hi + j - pw]
    return rows


def takes_rows(stride, kernel_width, channels):
    """Whether a convolution with this stride, kw and input channels uses the row im2col."""
    return stride == (1, 1) and kernel_width * channels >= ROWS_MIN_DEPTH


def rows_bytes_per_item(C, F, kernel_size, padded_height, out_width, itemsize):
    """Bytes of ``R`` and ``P`` for one batch item (to size the batch chunks)."""
    kh, kw = kernel_size
    return (kw * C + kh * F) * padded_height * out_width * itemsize


def conv2d_rows(x, w4, padding, chunks, out, bias=None):
    """Stride-1 convolution of ``x`` with ``w4``, written into ``out``.

    Parameters
    ----------
    x : (N, C, H, W) array (may be a non-contiguous view)
    w4 : (F, kh, kw, C) array, the kernel with its channel axis last
        (``w4[f, i, j, c] = w[f, c, i, j]``; may be a view)
    padding : pair (ph, pw), zeros added on both sides
    chunks : list of batch slices, processed one after another (bounded buffers)
    out : (N, F, Ho, Wo) array, ``Ho = H + 2 ph - kh + 1`` (likewise ``Wo``), overwritten
    bias : (F,) array or None, added to every output pixel

    Returns
    -------
    out
    """
    xp = np
    N, C, H, W = x.shape
    F, kh, kw, _ = w4.shape
    (ph, pw), (Ho, Wo) = padding, out.shape[2:]
    Hb = H + 2 * ph
    w_rows = w4.transpose(1, 0, 2, 3).reshape(kh * F, kw * C)  # rows (i, f), columns (j, c)
    x_cn = x.transpose(1, 0, 2, 3)  # (C, N, H, W): R's columns then run over (n, y, ox)

    def run(group):  # the chunks of one worker thread, through its own buffers
        largest = max(chunk.stop - chunk.start for chunk in group)
        r_buf = xp.empty(kw * C * largest * Hb * Wo, dtype=x.dtype)
        p_buf = xp.empty(kh * F * largest * Hb * Wo, dtype=out.dtype)
        for chunk in group:
            m = chunk.stop - chunk.start
            r = im2col_rows(x_cn[:, chunk], kw, padding, Wo, out=r_buf[: kw * C * m * Hb * Wo].reshape(kw, C, m, Hb, Wo))
            p = p_buf[: kh * F * m * Hb * Wo].reshape(kh * F, m * Hb * Wo)
            xp.matmul(w_rows, r.reshape(kw * C, m * Hb * Wo), out=p)
            p = p.reshape(kh, F, m, Hb, Wo)
            o = out[chunk].transpose(1, 0, 2, 3)  # (F, m, Ho, Wo) view of out
            # out[n, f, oy, ox] = sum_i P[i, f, n, oy + i, ox]
            if kh == 1:
                o[...] = p[0, :, :, :Ho]
            else:
                xp.add(p[0, :, :, :Ho], p[1, :, :, 1 : 1 + Ho], out=o)
            for i in range(2, kh):
                o += p[i, :, :, i : i + Ho]
            if bias is not None:
                o += bias.reshape(F, 1, 1, 1)
        return [None] * len(group)

    map_pieces(xp, run, chunks)
    return out


def conv2d_rows_weight_grad(x, dout, kernel_size, padding, chunks):
    """Weight gradient of :func:`conv2d_rows` (stride 1), by the same row im2col.

    ``dW[f, c, i, j] = sum_{n, oy, ox} g[f, n, oy, ox] * xpad[c, n, oy + i, ox + j]``.
    Writing ``y = oy + i`` and spreading ``g`` kh times, each copy ``i`` rows lower
    on the padded rows (zero where ``y - i`` is not an output row)::

        Gv[(i, f), (n, y, ox)] = g[f, n, y - i, ox]                 (kh*F, N*Hb*Wo)

    the sum is one GEMM with the row im2col ``R`` of the forward::

        dWr = Gv @ R^T,    dWr[(i, f), (j, c)] = dW[f, c, i, j]

    The chunks' parts of the sum are added in chunk order.

    Parameters
    ----------
    x : (N, C, H, W) array, the forward's input
    dout : (N, F, Ho, Wo) array, the gradient with respect to the output
    kernel_size : pair (kh, kw)
    padding : pair (ph, pw), as in the forward
    chunks : list of batch slices (bounded buffers; the sum runs over them)

    Returns
    -------
    dweight : (F, C, kh, kw) array
    """
    xp = np
    N, C, H, W = x.shape
    _, F, Ho, Wo = dout.shape
    (kh, kw), (ph, _) = kernel_size, padding
    Hb = H + 2 * ph
    x_cn, g_fn = x.transpose(1, 0, 2, 3), dout.transpose(1, 0, 2, 3)

    def run(group):  # one worker thread's chunks: each chunk's part of the sum
        largest = max(chunk.stop - chunk.start for chunk in group)
        r_buf = xp.empty(kw * C * largest * Hb * Wo, dtype=x.dtype)
        gv_buf = xp.empty(kh * F * largest * Hb * Wo, dtype=dout.dtype)
        parts = []
        for chunk in group:
            m = chunk.stop - chunk.start
            r = im2col_rows(x_cn[:, chunk], kw, padding, Wo, out=r_buf[: kw * C * m * Hb * Wo].reshape(kw, C, m, Hb, Wo))
            gv = gv_buf[: kh * F * m * Hb * Wo].reshape(kh, F, m, Hb, Wo)
            for i in range(kh):
                gv[i, :, :, :i] = 0
                gv[i, :, :, i + Ho :] = 0
                gv[i, :, :, i : i + Ho] = g_fn[:, chunk]
            parts.append(gv.reshape(kh * F, m * Hb * Wo) @ r.reshape(kw * C, m * Hb * Wo).T)
        return parts

    parts = map_pieces(xp, run, chunks)
    dw_rows = sum_in_order(parts)
    return xp.ascontiguousarray(dw_rows.reshape(kh, F, kw, C).transpose(1, 3, 0, 2))
