"""Conv2d: forward against a loop reference, gradients against finite differences, bad input.

Every test runs on the reference route (emsm_np.functional.conv2d, NumPy and
CuPy) and on each fast CPU route of emsm_np.cpu.conv2d (NumPy), with no worker
threads and with two.
"""
import numpy as np
import pytest

from emsm_np import ops
from emsm_np.backend import asnumpy
from emsm_np.cpu import conv2d as conv2d_module
from emsm_np.cpu import conv2d_rows
from emsm_np.functional import conv2d as reference_conv2d
from emsm_np.functional.im2col import col2im
from emsm_np.gradcheck import assert_gradients, assert_layer_gradients
from emsm_np.layers.conv2d import Conv2d

# Every test runs without worker threads and with two (conftest.py: threads).
pytestmark = pytest.mark.usefixtures("threads")

# (N, C, H, W), (F, kh, kw), stride, padding: non-square inputs and kernels, strides
# that do not divide the span (the last rows/columns are then never read)
CASES = [
    ((2, 3, 5, 6), (4, 3, 3), 1, 1),
    ((2, 2, 7, 5), (3, 3, 2), (2, 1), (1, 2)),
    ((1, 3, 6, 8), (2, 2, 4), 2, 0),
    ((3, 1, 4, 4), (2, 1, 1), 1, 0),
    ((1, 2, 5, 5), (2, 5, 5), 3, 2),
    ((2, 2, 3, 4), (3, 2, 2), 1, 3),
]


@pytest.fixture(autouse=True, params=["reference", "im2col", "per-image", "rows"])
def route(request, monkeypatch):
    """Run every test on each route, whatever the channel count: the reference
    (functional/conv2d.py), and the CPU routes: the full im2col with one GEMM per
    chunk, the full im2col with one GEMM per image (the route of thin first
    layers), and the row im2col (cpu/conv2d_rows.py) wherever the stride is 1.
    Layers follow: the reference route switches the fast routes off."""
    monkeypatch.setattr(conv2d_rows, "ROWS_MIN_DEPTH", 0 if request.param == "rows" else 10**9)
    monkeypatch.setattr(conv2d_module, "PER_IMAGE_MAX_DEPTH", 10**9 if request.param == "per-image" else 0)
    before = ops.fast_routes_enabled()
    ops.set_fast_routes(request.param != "reference")
    yield request.param
    ops.set_fast_routes(before)


@pytest.fixture
def impl(request, route):
    """The module under test: the reference, or the CPU routes (NumPy arrays only)."""
    if route == "reference":
        return reference_conv2d
    if "xp" in request.fixturenames and request.getfixturevalue("xp") is not np:
        pytest.skip("the CPU routes take NumPy arrays only")
    return conv2d_module


def on(xp, layer):
    return layer.to("gpu") if xp is not np else layer


def pair(v):
    return (v, v) if isinstance(v, int) else v


def loop_conv2d(x, w, b, stride, padding):
    """out[n, f, oy, ox] = b[f] + sum_{c,i,j} w[f,c,i,j] x[n, c, oy*sy+i-ph, ox*sx+j-pw]."""
    (sy, sx), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho, Wo = (H + 2 * ph - kh) // sy + 1, (W + 2 * pw - kw) // sx + 1
    out = np.zeros((N, F, Ho, Wo))
    for n, f, oy, ox in np.ndindex(N, F, Ho, Wo):
        total = 0.0 if b is None else b[f]
        for c, i, j in np.ndindex(C, kh, kw):
            y, x_ = oy * sy + i - ph, ox * sx + j - pw
            if 0 <= y < H and 0 <= x_ < W:  # outside is zero padding
                total += w[f, c, i, j] * x[n, c, y, x_]
        out[n, f, oy, ox] = total
    return out


def offset_conv2d(x, w, b, padding, dout):
    """Stride-1 conv2d and its three gradients, one kernel offset (i, j) at a time::

        out = b + sum_{i,j} w[:, :, i, j] . xpad[:, :, i:i+Ho, j:j+Wo]      (over c)

    and each gradient the adjoint of that sum, offset by offset. Fast enough for
    64 channels, and shares nothing with im2col, the row im2col or the GEMM routes.
    """
    (ph, pw), (_, _, H, W) = pair(padding), x.shape
    F, C, kh, kw = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho, Wo = xpad.shape[2] - kh + 1, xpad.shape[3] - kw + 1
    out = np.zeros((x.shape[0], F, Ho, Wo)) + b[None, :, None, None]
    dxpad, dw = np.zeros_like(xpad), np.zeros_like(w)
    for i, j in np.ndindex(kh, kw):
        window = xpad[:, :, i : i + Ho, j : j + Wo]
        out += np.einsum("fc,nchw->nfhw", w[:, :, i, j], window)
        dw[:, :, i, j] = np.einsum("nfhw,nchw->fc", dout, window)
        dxpad[:, :, i : i + Ho, j : j + Wo] += np.einsum("fc,nfhw->nchw", w[:, :, i, j], dout)
    return out, dxpad[:, :, ph : ph + H, pw : pw + W], dw, dout.sum(axis=(0, 2, 3))


def random_case(xshape, wshape, rng, dtype=np.float64):
    x = rng.standard_normal(xshape).astype(dtype)
    w = rng.standard_normal((wshape[0], xshape[1]) + wshape[1:]).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("xshape, wshape, stride, padding", CASES)
def test_conv2d_forward_matches_loop_reference(xp, xshape, wshape, stride, padding, impl):
    x, w, b = random_case(xshape, wshape, np.random.default_rng(0))
    out, _ = impl.conv2d_forward(xp.asarray(x), xp.asarray(w), xp.asarray(b), stride, padding)
    np.testing.assert_allclose(asnumpy(out), loop_conv2d(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)


def test_conv2d_forward_without_bias_matches_loop_reference(impl):
    x, w, _ = random_case((2, 3, 5, 4), (2, 3, 2), np.random.default_rng(1))
    out, cache = impl.conv2d_forward(x, w, None, 1, 1)
    np.testing.assert_allclose(out, loop_conv2d(x, w, None, 1, 1), rtol=1e-12, atol=1e-12)
    assert impl.conv2d_backward(np.ones_like(out), cache)[2] is None


@pytest.mark.parametrize("xshape, wshape, stride, padding", CASES)
def test_conv2d_x_weight_and_bias_gradients_match_finite_differences(xp, xshape, wshape, stride, padding, impl):
    x, w, b = (xp.asarray(a) for a in random_case(xshape, wshape, np.random.default_rng(2)))
    assert_gradients(lambda: impl.conv2d_forward(x, w, b, stride, padding), impl.conv2d_backward,
                     {"x": x, "weight": w, "bias": b}, seed=3)


@pytest.mark.parametrize("xshape, wshape, stride, padding", CASES)
def test_conv2d_dx_by_flipped_kernel_equals_col2im_of_wm_transpose_g(xp, xshape, wshape, stride, padding, impl):
    # conv2d_backward computes dx as a stride-1 convolution of the spread-out dout
    # with the flipped kernel; it must equal the textbook dx = col2im(Wm^T G).
    # With fewer input than output channels (C < F) conv2d_backward itself takes
    # the textbook form, and the comparison would be of col2im with itself: keep
    # F <= C so that the flipped kernel (through im2col or the row im2col) runs.
    wshape = (min(wshape[0], xshape[1]),) + wshape[1:]
    x, w, b = (xp.asarray(a) for a in random_case(xshape, wshape, np.random.default_rng(11)))
    out, cache = impl.conv2d_forward(x, w, b, stride, padding)
    dout = xp.asarray(np.random.default_rng(12).standard_normal(out.shape))
    N, C, H, W = xshape
    F, kh, kw = wshape
    _, _, Ho, Wo = out.shape
    w_mat = w.transpose(0, 2, 3, 1).reshape(F, kh * kw * C)
    g = dout.transpose(1, 0, 2, 3).reshape(F, N * Ho * Wo)
    dcol = (w_mat.T @ g).reshape(kh, kw, C, N, Ho, Wo)
    expected = col2im(dcol, (C, N, H, W), pair(stride), pair(padding)).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(asnumpy(impl.conv2d_backward(dout, cache)[0]), asnumpy(expected),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_layer_gradients_match_finite_differences(xp, bias):
    layer = on(xp, Conv2d(2, 3, (3, 2), stride=(1, 2), padding=1, bias=bias, dtype=np.float64, rng=4))
    x = xp.asarray(np.random.default_rng(5).standard_normal((2, 2, 5, 6)))
    errors = assert_layer_gradients(layer, x, seed=6)
    assert set(errors) == ({"x", "weight", "bias"} if bias else {"x", "weight"})


CPU_ROUTES = ["im2col", "per-image", "rows"]


@pytest.mark.parametrize("route", CPU_ROUTES, indirect=True)
def test_conv2d_batch_chunking_changes_no_result(monkeypatch, route):
    # Force several uneven chunks (7 images in chunks of 3, 3, 1) and compare with
    # the whole batch at once: the blocking must be invisible.
    xp, impl = np, conv2d_module
    x, w, b = (xp.asarray(a) for a in random_case((7, 3, 6, 5), (4, 3, 3), np.random.default_rng(7)))
    dout = xp.asarray(np.random.default_rng(8).standard_normal((7, 4, 6, 5)))
    whole = impl.conv2d_forward(x, w, b, 1, 1)
    whole_grads = impl.conv2d_backward(dout, whole[1])
    per_image = 3 * 3 * 3 * 6 * 5 * 8  # bytes of Col for one float64 image
    monkeypatch.setattr(conv2d_module, "COL_CHUNK_BYTES", 3 * per_image)
    monkeypatch.setattr(conv2d_module, "MIN_CHUNKS", 1)
    assert len(conv2d_module._batch_chunks(7, per_image)) == 3
    chunked = impl.conv2d_forward(x, w, b, 1, 1)
    chunked_grads = impl.conv2d_backward(dout, chunked[1])
    for a, c in zip((whole[0],) + whole_grads, (chunked[0],) + chunked_grads):
        np.testing.assert_allclose(asnumpy(c), asnumpy(a), rtol=1e-12, atol=1e-12)
    # and both are right, not merely equal: against the offset-by-offset reference
    reference = offset_conv2d(*(asnumpy(a) for a in (x, w, b)), 1, asnumpy(dout))
    for c, want in zip((chunked[0],) + chunked_grads, reference):
        np.testing.assert_allclose(asnumpy(c), want, rtol=1e-11, atol=1e-11)


# The thresholds as conv2d.py and conv2d_rows.py set them (read at import, before
# the route fixture patches them).
DEFAULT_ROWS_MIN_DEPTH = conv2d_rows.ROWS_MIN_DEPTH
DEFAULT_PER_IMAGE_MAX_DEPTH = conv2d_module.PER_IMAGE_MAX_DEPTH
# What spy_on_routes records on each route, for a stride-1 convolution.
ROUTE_TRACE = {"rows": {"rows"}, "im2col": {"im2col"}, "per-image": {"im2col", "per-image"}, "reference": set()}


def spy_on_routes(monkeypatch):
    """Record which route conv2d_forward and conv2d_backward take (NumPy arrays).

    "rows": conv2d_rows or conv2d_rows_weight_grad ran; "im2col": conv2d.py built
    a full im2col (of x for the forward or dW, or of the spread-out dout for the
    flipped-kernel dx); "per-image": a batched (3-D) np.matmul ran, which only the
    per-image GEMMs call.
    """
    taken = []

    def spy(module, name, label):
        real = getattr(module, name)

        def recorded(*args, **kwargs):
            taken.append(label)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)

    spy(conv2d_rows, "conv2d_rows", "rows")
    spy(conv2d_rows, "conv2d_rows_weight_grad", "rows")
    spy(conv2d_module, "im2col", "im2col")
    real_matmul = np.matmul

    def matmul(a, b, *args, **kwargs):
        if a.ndim == 3 or b.ndim == 3:
            taken.append("per-image")
        return real_matmul(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "matmul", matmul)
    return taken


WIDE = [(64, 64, 3, 1), (32, 64, 5, 2), (40, 8, (3, 2), (0, 1))]


def wide_case(C, F, kernel, padding):
    kh, kw = pair(kernel)
    x, w, b = random_case((3, C, 7, 6), (F, kh, kw), np.random.default_rng(13))
    dout_shape = (3, F, 7 + 2 * pair(padding)[0] - kh + 1, 6 + 2 * pair(padding)[1] - kw + 1)
    return x, w, b, np.random.default_rng(14).standard_normal(dout_shape)


@pytest.mark.parametrize("route", CPU_ROUTES + ["reference"], indirect=True)
@pytest.mark.parametrize("C, F, kernel, padding", WIDE)
def test_conv2d_wide_layers_on_each_route_match_the_offset_by_offset_reference(
        monkeypatch, route, impl, C, F, kernel, padding):
    # The route fixture forces a route; the spy proves that it is the one that ran,
    # for the forward, dW and dx alike.
    x, w, b, dout = wide_case(C, F, kernel, padding)
    taken = spy_on_routes(monkeypatch)
    out, cache = impl.conv2d_forward(x, w, b, 1, padding)
    grads = impl.conv2d_backward(dout, cache)
    assert set(taken) == ROUTE_TRACE[route], (route, sorted(set(taken)))
    for got, want in zip((out,) + grads, offset_conv2d(x, w, b, padding, dout)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


ROWS, IM2COL, PER_IMAGE = ROUTE_TRACE["rows"], ROUTE_TRACE["im2col"], ROUTE_TRACE["per-image"]


@pytest.mark.parametrize("route", ["defaults"])  # replaces the route fixture: nothing patched
@pytest.mark.parametrize("C, F, kernel, padding, forward_trace, backward_trace", [
    (64, 64, 3, 1, ROWS, ROWS),  # LiuNet's later layers: forward, dW and dx by rows
    (32, 64, 5, 2, ROWS, ROWS),  # LeNet's second layer
    (40, 8, (3, 2), (0, 1), ROWS, ROWS | IM2COL),  # dx (kw*F = 16) by the flipped kernel's im2col
    (1, 32, 5, 0, PER_IMAGE, PER_IMAGE | ROWS),  # LeNet's first layer: dx (kw*F = 160) by rows
    (3, 8, 3, 1, PER_IMAGE, PER_IMAGE),  # a thin first layer throughout
    (8, 16, 3, 1, IM2COL, IM2COL),  # between the two thresholds
], ids=["64-64-rows", "32-64-rows", "40-8-rows-dx-im2col", "1-32-per-image-dx-rows", "3-8-per-image", "8-16-im2col"])
def test_conv2d_default_thresholds_choose_rows_for_wide_layers_and_per_image_gemms_for_thin_ones(
        monkeypatch, route, C, F, kernel, padding, forward_trace, backward_trace):
    impl = conv2d_module
    assert (conv2d_rows.ROWS_MIN_DEPTH, conv2d_module.PER_IMAGE_MAX_DEPTH) == (
        DEFAULT_ROWS_MIN_DEPTH, DEFAULT_PER_IMAGE_MAX_DEPTH)
    x, w, b, dout = wide_case(C, F, kernel, padding)
    taken = spy_on_routes(monkeypatch)
    out, cache = impl.conv2d_forward(x, w, b, 1, padding)
    assert set(taken) == forward_trace, sorted(set(taken))
    taken.clear()
    grads = impl.conv2d_backward(dout, cache)
    assert set(taken) == backward_trace, sorted(set(taken))
    for got, want in zip((out,) + grads, offset_conv2d(x, w, b, padding, dout)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


def test_conv2d_float32_in_float32_out_and_inputs_untouched(impl):
    x, w, b = random_case((2, 3, 6, 6), (4, 3, 3), np.random.default_rng(9), np.float32)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = impl.conv2d_forward(x, w, b, 1, 1)
    grads = impl.conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_allclose(out, loop_conv2d(*(a.astype(np.float64) for a in (x, w, b)), 1, 1),
                               rtol=1e-5, atol=1e-5)


def test_conv2d_init_is_pytorch_uniform_and_reproducible():
    layer = Conv2d(4, 8, (3, 2), rng=0)
    bound = 1 / np.sqrt(4 * 3 * 2)
    w, b = layer.params["weight"], layer.params["bias"]
    assert w.shape == (8, 4, 3, 2) and b.shape == (8,) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound and np.abs(w).max() > 0.8 * bound
    np.testing.assert_array_equal(Conv2d(4, 8, (3, 2), rng=0).params["weight"], w)
    assert set(layer.grads) == {"weight", "bias"}
    assert set(Conv2d(4, 8, 3, bias=False).params) == {"weight"}


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(in_channels=0), ValueError, r"in_channels must be >= 1, got 0"),
    (dict(out_channels=2.0), TypeError, r"out_channels must be an integer, got 2.0"),
    (dict(kernel_size=(3,)), TypeError, r"kernel_size must be an int or a pair of ints, got \(3,\)"),
    (dict(kernel_size=0), ValueError, r"kernel_size must be >= 1 in both directions, got 0"),
    (dict(stride=(1, 0)), ValueError, r"stride must be >= 1 in both directions, got \(1, 0\)"),
    (dict(padding=-1), ValueError, r"padding must be >= 0 in both directions, got -1"),
    (dict(bias="yes"), TypeError, r"bias must be True or False, got 'yes'"),
    (dict(dtype=np.int32), TypeError, r"dtype must be float32 or float64, got int32"),
])
def test_conv2d_constructor_rejects_bad_arguments(kwargs, error, message):
    args = dict(in_channels=3, out_channels=4, kernel_size=3)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        Conv2d(**args)


@pytest.mark.parametrize("x, error, message", [
    (np.zeros((3, 5, 5), np.float32), ValueError, r"x must be 4-D, got shape \(3, 5, 5\) \(3-D\)"),
    (np.zeros((1, 2, 5, 5), np.float32), ValueError,
     r"x must have in_channels=3 channels \(axis 1\), got shape \(1, 2, 5, 5\)"),
    (np.zeros((1, 3, 5, 5), np.int64), TypeError, r"x must have a floating dtype .* got int64"),
    (np.zeros((1, 3, 2, 5), np.float32), ValueError,
     r"x's spatial size \(2, 5\) with padding \(0, 0\) gives \(2, 5\), smaller than the kernel \(3, 3\)"),
    ([[1.0]], TypeError, r"x must be a NumPy or CuPy array, got list"),
])
def test_conv2d_forward_rejects_bad_input(x, error, message):
    with pytest.raises(error, match=message):
        Conv2d(3, 4, 3).forward(x)


def test_conv2d_rejects_mismatched_weight_bias_and_dout(impl):
    # ops checks a forward's inputs (then picks the route); each route's backward checks dout
    x, w, b = random_case((1, 3, 5, 5), (4, 3, 3), np.random.default_rng(10))
    with pytest.raises(ValueError, match=r"x has 2 channels .* but weight expects 3"):
        ops.conv2d_forward(x[:, :2], w, b)
    with pytest.raises(ValueError, match=r"but weight expects 3 \(shape \(4, 3, 2, 2\)\)"):  # its axis 1
        ops.conv2d_forward(x[:, :2], w[:, :, :2, :2], b)
    with pytest.raises(ValueError, match=r"stride must be >= 1 in both directions, got 0"):
        ops.conv2d_forward(x, w, b, stride=0)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\) to match weight's out channels, got \(3,\)"):
        ops.conv2d_forward(x, w, b[:3])
    out, cache = impl.conv2d_forward(x, w, b)
    message = r"dout must have the forward output's shape \(1, 4, 3, 3\), got \(1, 4, 3, 2\)"
    with pytest.raises(ValueError, match=message):
        impl.conv2d_backward(out[..., :2], cache)


def test_conv2d_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="Conv2d.backward called before forward"):
        Conv2d(1, 1, 1).backward(np.zeros((1, 1, 1, 1)))


@pytest.mark.parametrize("xshape, wshape, stride, padding", CASES)
def test_conv2d_backward_without_dx_gives_the_same_weight_and_bias_gradients(xp, xshape, wshape, stride, padding, impl):
    x, w, b = (xp.asarray(a) for a in random_case(xshape, wshape, np.random.default_rng(21)))
    out, cache = impl.conv2d_forward(x, w, b, stride, padding)
    dout = xp.asarray(np.random.default_rng(22).standard_normal(out.shape))
    dx, dw, db = impl.conv2d_backward(dout, cache)
    none, dw2, db2 = impl.conv2d_backward(dout, cache, need_dx=False)
    assert none is None
    np.testing.assert_array_equal(asnumpy(dw2), asnumpy(dw))
    np.testing.assert_array_equal(asnumpy(db2), asnumpy(db))


def test_first_layer_of_a_network_skips_the_input_gradient():
    from emsm_np.models import build_network

    net = build_network("lenet", feature_dim=4)
    assert net.features[0].input_grad is False
    assert all(getattr(l, "input_grad", True) for l in net.features.layers[1:])
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    net.loss(x, np.array([0, 1, 2]))
    assert net.features.backward(net.head.backward()) is None
    assert np.abs(net.grads["features.0.weight"]).max() > 0
