"""im2col / col2im: the window gather, its adjoint, and PyTorch's output-size rule."""
import math

import numpy as np
import pytest

from emsm_np.backend import asnumpy
from emsm_np.cpu.conv2d_rows import im2col_rows
from emsm_np.functional.im2col import as_pair, col2im, im2col, output_size

# (A, B, H, W), kernel, stride, padding
GEOMETRIES = [
    ((2, 3, 5, 7), (3, 2), (1, 2), (1, 0)),
    ((1, 2, 6, 6), (3, 3), (2, 2), (1, 1)),
    ((2, 1, 4, 5), (1, 1), (1, 1), (0, 0)),
    ((1, 1, 7, 7), (2, 2), (2, 2), (0, 0)),
]


def loop_im2col(x, kernel, stride, padding, out_size, pad_value):
    """col[i, j, a, b, oy, ox] = xpad[a, b, oy*sy + i, ox*sx + j], one entry at a time."""
    A, B, H, W = x.shape
    (kh, kw), (sy, sx), (ph, pw), (Ho, Wo) = kernel, stride, padding, out_size
    col = np.empty((kh, kw, A, B, Ho, Wo))
    for i, j, a, b, oy, ox in np.ndindex(*col.shape):
        y, x_ = oy * sy + i - ph, ox * sx + j - pw
        inside = 0 <= y < H and 0 <= x_ < W
        col[i, j, a, b, oy, ox] = x[a, b, y, x_] if inside else pad_value
    return col


@pytest.mark.parametrize("shape, kernel, stride, padding", GEOMETRIES)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_im2col_matches_loop_reference(xp, shape, kernel, stride, padding, ceil_mode):
    x = np.random.default_rng(0).standard_normal(shape)
    out_size = tuple(output_size(shape[2 + d], kernel[d], stride[d], padding[d], ceil_mode) for d in (0, 1))
    col = im2col(xp.asarray(x), kernel, stride, padding, out_size, pad_value=-7.0)
    np.testing.assert_array_equal(asnumpy(col), loop_im2col(x, kernel, stride, padding, out_size, -7.0))


@pytest.mark.parametrize("shape, kernel, stride, padding", GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(xp, shape, kernel, stride, padding):
    # <im2col(x), c> = <x, col2im(c)> for every x and c is what makes col2im the
    # exact backward of im2col (overlaps summed, padding dropped).
    rng = np.random.default_rng(1)
    out_size = tuple(output_size(shape[2 + d], kernel[d], stride[d], padding[d], True) for d in (0, 1))
    x = xp.asarray(rng.standard_normal(shape))
    c = xp.asarray(rng.standard_normal(kernel + shape[:2] + out_size))
    lhs = float((im2col(x, kernel, stride, padding, out_size) * c).sum())
    rhs = float((x * col2im(c, shape, stride, padding)).sum())
    assert abs(lhs - rhs) < 1e-12 * max(1.0, abs(lhs))


@pytest.mark.parametrize("shape, kw, padding", [
    ((2, 3, 5, 7), 3, (1, 1)), ((1, 2, 4, 4), 2, (0, 0)), ((2, 1, 3, 2), 5, (2, 2)), ((1, 1, 3, 3), 3, (0, 2)),
])
def test_im2col_rows_matches_loop_reference_and_overwrites_its_buffer(shape, kw, padding):
    xp = np  # a CPU route (emsm_np.cpu.conv2d_rows)
    # rows[j, a, b, y, ox] = xpad[a, b, y, ox + j]: the full im2col's (i=0, j) slices
    # over every padded row. A buffer full of garbage must come back fully written.
    x = np.random.default_rng(2).standard_normal(shape)
    A, B, H, W = shape
    (ph, pw), Wo = padding, W + 2 * padding[1] - kw + 1
    # the loop im2col with a 1 x kw kernel and every padded row as an output row
    expected = loop_im2col(x, (1, kw), (1, 1), (ph, pw), (H + 2 * ph, Wo), 0.0)[0]
    buf = xp.full((kw, A, B, H + 2 * ph, Wo), np.nan)
    rows = im2col_rows(xp.asarray(x), kw, padding, Wo, out=buf)
    np.testing.assert_array_equal(asnumpy(rows), expected)
    np.testing.assert_array_equal(asnumpy(im2col_rows(xp.asarray(x), kw, padding, Wo)), expected)


def pytorch_pool_output_size(size, k, s, p, ceil_mode):
    rounding = math.ceil if ceil_mode else math.floor
    out = rounding((size + 2 * p - k) / s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_output_size_follows_pytorch_rule_on_a_grid(ceil_mode):
    for size in range(1, 12):
        for k in range(1, size + 1):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    got = output_size(size, k, s, p, ceil_mode)
                    assert got == pytorch_pool_output_size(size, k, s, p, ceil_mode), (size, k, s, p)


def test_liunet_mnist_7_to_4_output_size_with_ceil_mode():
    assert output_size(7, 2, 2, 0, ceil_mode=True) == 4
    assert output_size(7, 2, 2, 0, ceil_mode=False) == 3


def test_as_pair_rejects_bad_values_with_a_message_naming_the_argument():
    assert as_pair("stride", 2, 1) == (2, 2)
    assert as_pair("stride", (1, 3), 1) == (1, 3)
    with pytest.raises(TypeError, match=r"stride must be an int or a pair of ints, got \(1, 2, 3\)"):
        as_pair("stride", (1, 2, 3), 1)
    with pytest.raises(TypeError, match=r"stride must be an int or a pair of ints, got 1.5"):
        as_pair("stride", 1.5, 1)
    with pytest.raises(TypeError, match=r"stride must be an int or a pair of ints, got True"):
        as_pair("stride", True, 1)
    with pytest.raises(ValueError, match=r"padding must be >= 0 in both directions, got \(0, -1\)"):
        as_pair("padding", (0, -1), 0)
