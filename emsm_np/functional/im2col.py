"""im2col / col2im: an image seen through every kernel offset (Chainer style).

For a kernel of size ``(kh, kw)``, stride ``(sy, sx)`` and padding ``(ph, pw)``,
output pixel ``(oy, ox)`` reads the padded input ``xpad`` at::

    xpad[oy * sy + i, ox * sx + j]      for kernel offsets 0 <= i < kh, 0 <= j < kw

so fixing one offset ``(i, j)`` and letting ``(oy, ox)`` run gives one strided
slice of the padded image::

    col[i, j] = xpad[..., i : i + sy * Ho : sy, j : j + sx * Wo : sx]      (Ho, Wo)

:func:`im2col` builds ``col`` with one slice copy per offset: a Python loop of
``kh * kw`` steps, never over batch items, channels or pixels. :func:`col2im` is
its adjoint (the transpose of that linear map): each input pixel receives the
sum of the entries of ``col`` that were copied from it::

    dxpad[..., i : i + sy * Ho : sy, j : j + sx * Wo : sx] += dcol[i, j]

again one strided slice per offset, with no scatter. Overlapping windows simply
add up, slice after slice. (The reference backward passes of convolution and
max-pooling use it.)

Layout. The two leading axes of the image, whatever they are, follow the
kernel offsets: an image ``(A, B, H, W)`` gives ``col`` of shape
``(kh, kw, A, B, Ho, Wo)``. Convolution passes its input as ``(C, N, H, W)``, so
``col.reshape(kh * kw * C, N * Ho * Wo)`` is one matrix for one big GEMM with no
copy; max-pooling passes ``(N, C, H, W)`` and takes the max over the first two
axes (the offsets).
"""
import numbers

from ..backend import get_array_module


def as_pair(name, value, minimum):
    """``value`` as a pair of Python ints ``(vertical, horizontal)``, each ``>= minimum``.

    Accepts one integer (used for both directions) or a tuple/list of two.
    """

    def is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(is_int, value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum} in both directions, got {value!r}")
    return pair


def output_size(size, kernel, stride, padding, ceil_mode=False):
    """Number of window positions along one axis (PyTorch's rule).

    ``floor((size + 2 p - k) / s) + 1``, or with ``ceil_mode`` the ceiling, minus one
    if the last window would then start past the input and its left padding
    (``(out - 1) * s >= size + p``): every window must cover at least one real
    input element.
    """
    span = size + 2 * padding - kernel
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _padded_extent(size, kernel, stride, padding, out):
    # The padded buffer must hold the input with its padding on both sides and
    # every window, including a ceil-mode window that hangs past the far padding.
    return max(size + 2 * padding, (out - 1) * stride + kernel)


def im2col(x, kernel_size, stride, padding, out_size, pad_value=0.0, out=None):
    """Gather every kernel window of ``x`` into a column array.

    Parameters
    ----------
    x : (A, B, H, W) array (any two leading axes; may be a transposed view)
    kernel_size, stride, padding : pairs of ints (vertical, horizontal)
    out_size : pair (Ho, Wo), number of window positions (see :func:`output_size`)
    pad_value : value read outside the input (0 for convolution, -inf for max-pooling)
    out : optional (kh, kw, A, B, Ho, Wo) array to write into (lets a caller reuse
        one buffer across calls instead of touching fresh memory each time)

    Returns
    -------
    col : (kh, kw, A, B, Ho, Wo) array of ``x.dtype``,
        ``col[i, j, a, b, oy, ox] = xpad[a, b, oy * sy + i, ox * sx + j]``
    """
    xp = get_array_module(x)
    A, B, H, W = x.shape
    (kh, kw), (sy, sx), (ph, pw), (Ho, Wo) = kernel_size, stride, padding, out_size
    Hb = _padded_extent(H, kh, sy, ph, Ho)
    Wb = _padded_extent(W, kw, sx, pw, Wo)
    if (Hb, Wb) == (H, W):
        xpad = x
    else:
        # A preallocated buffer instead of xp.pad: one fill and one copy, and the
        # copy also makes a transposed view of x contiguous.
        xpad = xp.full((A, B, Hb, Wb), pad_value, dtype=x.dtype)
        xpad[:, :, ph : ph + H, pw : pw + W] = x
    col = xp.empty((kh, kw, A, B, Ho, Wo), dtype=x.dtype) if out is None else out
    for i in range(kh):
        for j in range(kw):
            col[i, j] = xpad[:, :, i : i + sy * Ho : sy, j : j + sx * Wo : sx]
    return col


def col2im(col, image_shape, stride, padding):
    """Adjoint of :func:`im2col`: sum every column entry back onto its input pixel.

    Parameters
    ----------
    col : (kh, kw, A, B, Ho, Wo) array, e.g. the gradient with respect to ``col``
    image_shape : (A, B, H, W), the shape of the image given to :func:`im2col`
    stride, padding : pairs of ints, as given to :func:`im2col`

    Returns
    -------
    img : (A, B, H, W) array of ``col.dtype``; entries that fell in the padding are
        dropped. It may be a view into a padded buffer (not contiguous) when
        the windows reach past the image; callers that need a contiguous array
        copy it.
    """
    xp = get_array_module(col)
    kh, kw, A, B, Ho, Wo = col.shape
    _, _, H, W = image_shape
    (sy, sx), (ph, pw) = stride, padding
    Hb = _padded_extent(H, kh, sy, ph, Ho)
    Wb = _padded_extent(W, kw, sx, pw, Wo)
    img = xp.zeros((A, B, Hb, Wb), dtype=col.dtype)
    for i in range(kh):
        for j in range(kw):
            img[:, :, i : i + sy * Ho : sy, j : j + sx * Wo : sx] += col[i, j]
    return img[:, :, ph : ph + H, pw : pw + W]
