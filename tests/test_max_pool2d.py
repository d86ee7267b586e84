"""MaxPool2d: loop reference (PyTorch's size and tie rules), finite differences, bad input.

Every test runs with the fast CPU routes off (the reference, functional/max_pool2d.py)
and on (the dispatcher then sends NumPy 2x2 windows at stride 2 to cpu/max_pool2d.py).
"""
import math

import numpy as np
import pytest

from emsm_np import ops
from emsm_np.backend import asnumpy
from emsm_np.cpu.max_pool2d import PairsCache
from emsm_np.gradcheck import KINK, assert_gradients, assert_layer_gradients
from emsm_np.layers.max_pool2d import MaxPool2d
from emsm_np.ops import max_pool2d_backward, max_pool2d_forward

# Every test runs without worker threads and with two (conftest.py: threads).
pytestmark = pytest.mark.usefixtures("threads")


@pytest.fixture(autouse=True, params=["reference", "fast"])
def routes(request):
    """The fast CPU routes off (every window on the reference) or on."""
    before = ops.fast_routes_enabled()
    ops.set_fast_routes(request.param == "fast")
    yield request.param
    ops.set_fast_routes(before)


def route_of(cache):
    return "pairs" if isinstance(cache, PairsCache) else "reference"


def expected_route(xp, routes, pairs):
    """The route a forward takes: the pairwise one for NumPy 2x2 windows at stride 2, fast routes on."""
    return "pairs" if (pairs and routes == "fast" and xp is np) else "reference"


# (N, C, H, W), kernel, stride, padding, ceil_mode
CASES = [
    ((2, 3, 7, 7), 2, 2, 0, True),  # LiuNet MNIST: 7x7 -> 4x4
    ((2, 3, 7, 7), 2, 2, 0, False),
    ((1, 2, 9, 8), 3, 2, 1, True),  # overlapping windows, padding, ceil
    ((2, 2, 8, 9), 3, 2, 0, False),  # overlapping windows
    ((1, 2, 5, 6), (3, 2), (2, 1), (1, 1), True),  # non-square everything
    ((2, 1, 6, 5), 3, 1, 1, False),  # every input in up to 9 windows
    ((1, 1, 4, 4), 2, None, 1, True),
    # windows that tile the image (stride = kernel, no padding): exact fit, a
    # non-square kernel, rows/columns left out (floor) or a partial window (ceil)
    ((2, 3, 8, 8), 2, 2, 0, False),
    ((2, 2, 6, 9), (2, 3), None, 0, False),
    ((1, 2, 8, 7), 3, 3, 0, False),
    ((1, 2, 8, 7), 3, 3, 0, True),
]


def pair(v):
    return (v, v) if isinstance(v, int) else v


def loop_max_pool2d(x, kernel, stride, padding, ceil_mode, stats=None):
    """Output and the winner of each window, one window at a time, from PyTorch's rules.

    ``stats``, a dict if given, receives ``"tied"``: how many windows hold their
    maximum more than once, and ``"partial"``: how many hang past the padded
    input's last row or column (only ceil mode makes such windows).
    """
    kh, kw = pair(kernel)
    sy, sx = pair(kernel if stride is None else stride)
    ph, pw = pair(padding)
    N, C, H, W = x.shape

    def size(n, k, s, p):
        out = (math.ceil if ceil_mode else math.floor)((n + 2 * p - k) / s) + 1
        return out - 1 if ceil_mode and (out - 1) * s >= n + p else out

    Ho, Wo = size(H, kh, sy, ph), size(W, kw, sx, pw)
    out = np.empty((N, C, Ho, Wo))
    winner = {}
    for n, c, oy, ox in np.ndindex(N, C, Ho, Wo):
        best, where = -np.inf, None
        for i, j in np.ndindex(kh, kw):  # window order: row by row
            y, x_ = oy * sy + i - ph, ox * sx + j - pw
            if 0 <= y < H and 0 <= x_ < W and x[n, c, y, x_] > best:  # strict: first max wins
                best, where = x[n, c, y, x_], (n, c, y, x_)
        out[n, c, oy, ox] = best
        winner[n, c, oy, ox] = where
        if stats is not None:
            inside = [(oy * sy + i - ph, ox * sx + j - pw) for i, j in np.ndindex(kh, kw)]
            past_end = [(y, x_) for y, x_ in inside if y >= H + ph or x_ >= W + pw]
            inside = [(y, x_) for y, x_ in inside if 0 <= y < H and 0 <= x_ < W]
            stats["tied"] = stats.get("tied", 0) + (sum(x[n, c, y, x_] == best for y, x_ in inside) > 1)
            stats["partial"] = stats.get("partial", 0) + bool(past_end)
    return out, winner


def spread_input(shape, seed):
    """Distinct values 0.1 apart in random order: no two entries of a window within eps."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0


def assert_matches_reference(xp, out, cache, expected, winner, shape, seed):
    """The forward equals the loop reference, and the backward sends each upstream value to its winner."""
    np.testing.assert_array_equal(asnumpy(out), expected)
    dout = np.random.default_rng(seed).standard_normal(expected.shape)
    expected_dx = np.zeros(shape)
    for o, w in winner.items():
        expected_dx[w] += dout[o]
    dx = max_pool2d_backward(xp.asarray(dout), cache)
    np.testing.assert_allclose(asnumpy(dx), expected_dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode", CASES)
def test_max_pool2d_forward_and_backward_match_loop_reference(xp, shape, kernel, stride, padding, ceil_mode):
    x = np.random.default_rng(0).standard_normal(shape)
    out, cache = max_pool2d_forward(xp.asarray(x), kernel, stride, padding, ceil_mode)
    expected, winner = loop_max_pool2d(x, kernel, stride, padding, ceil_mode)
    assert_matches_reference(xp, out, cache, expected, winner, shape, seed=1)


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode", CASES)
def test_max_pool2d_gradient_matches_finite_differences(xp, shape, kernel, stride, padding, ceil_mode):
    x = xp.asarray(spread_input(shape, 2))  # every window's values 0.1 apart: no difference crosses a kink
    assert_gradients(lambda: max_pool2d_forward(x, kernel, stride, padding, ceil_mode), max_pool2d_backward,
                     {"x": x}, seed=3, bound=KINK)


def test_max_pool2d_layer_gradient_matches_finite_differences(xp):
    layer = MaxPool2d(2, 2, ceil_mode=True)
    errors = assert_layer_gradients(layer, xp.asarray(spread_input((2, 2, 7, 7), 4)), seed=5, bound=KINK)
    assert set(errors) == {"x"}


def test_liunet_mnist_pooling_7x7_to_4x4_keeps_the_last_row_and_column():
    x = np.arange(49, dtype=np.float32).reshape(1, 1, 7, 7)
    out = MaxPool2d(2, 2, ceil_mode=True).forward(x)
    assert out.shape == (1, 1, 4, 4) and out.dtype == np.float32
    # the last window holds only x[6, 6] (the rest lies past the input, read as -inf)
    assert out[0, 0, 3, 3] == 48 and out[0, 0, 3, 0] == 43 and out[0, 0, 0, 3] == 13


# The third window's maximum 5 sits in both rows: the upper one, (0, 1), is
# first in window order although the lower one, (1, 0), is further left.
TIED_WINDOWS = [[[1.0, 1.0], [1.0, 1.0]], [[0.0, 2.0], [2.0, 2.0]], [[1.0, 5.0], [5.0, 0.0]]]
FIRST_MAX = [[[1, 0], [0, 0]], [[0, 1], [0, 0]], [[0, 1], [0, 0]]]


@pytest.mark.parametrize("args, pairs", [((2,), True), ((2, 1), False)])
def test_max_pool2d_ties_send_the_gradient_to_the_first_max_in_window_order(xp, routes, args, pairs):
    x = xp.asarray(np.array([TIED_WINDOWS]))  # (1, 3, 2, 2)
    out, cache = max_pool2d_forward(x, *args)
    assert route_of(cache) == expected_route(xp, routes, pairs)
    dx = asnumpy(max_pool2d_backward(xp.ones_like(out), cache))
    np.testing.assert_array_equal(dx, [FIRST_MAX])


def test_max_pool2d_ties_in_ceil_mode_partial_windows_go_to_the_first_real_element(xp, routes):
    # 3x3 pooled 2x2 at stride 2 in ceil mode: the windows of the last row and
    # column hold one or two real elements, all tied at -7 (the rest reads -inf).
    x = np.full((1, 3, 3, 3), -7.0)
    x[0, :, :2, :2] = TIED_WINDOWS
    out, cache = max_pool2d_forward(xp.asarray(x), 2, 2, 0, True)
    assert route_of(cache) == expected_route(xp, routes, True) and out.shape == (1, 3, 2, 2)
    np.testing.assert_array_equal(asnumpy(out)[0, :, 0, 0], [1.0, 2.0, 5.0])
    np.testing.assert_array_equal(asnumpy(out)[0, :, 1:, 1:].ravel(), -7.0)
    expected = np.zeros_like(x)
    expected[0, :, :2, :2] = FIRST_MAX
    expected[0, :, 0, 2] = expected[0, :, 2, 0] = expected[0, :, 2, 2] = 1  # first of each partial window
    dx = asnumpy(max_pool2d_backward(xp.ones_like(out), cache))
    np.testing.assert_array_equal(dx, expected)


# shape, kernel, stride, padding, ceil_mode, whether the pairwise CPU route applies
TIE_CASES = [
    ((2, 3, 6, 8), 2, 2, 0, False, True),
    ((2, 3, 7, 5), 2, 2, 0, True, True),  # partial windows in the last row and column
    ((2, 3, 7, 5), 2, 2, 0, False, True),  # the last row and column in no window
    ((1, 2, 9, 9), 3, 3, 0, False, False),
    ((2, 2, 8, 7), 3, 3, 0, True, False),  # partial windows: 8 = 2*3 + 2, 7 = 2*3 + 1
    ((2, 2, 7, 10), (2, 3), None, 0, True, False),
    ((2, 2, 6, 9), (2, 3), None, 0, False, False),
    ((1, 2, 9, 8), 3, 2, 1, True, False),
    ((2, 1, 6, 5), 3, 1, 1, False, False),
]


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode, pairs", TIE_CASES)
def test_max_pool2d_every_route_with_ties_and_partial_windows_matches_loop_reference(
        xp, routes, shape, kernel, stride, padding, ceil_mode, pairs):
    # Values in {-1, 0, 1}: most windows hold their maximum several times, so the
    # first-max rule decides the output's source, and dx, on every route.
    x = np.random.default_rng(7).integers(-1, 2, shape).astype(np.float64)
    stats = {}
    expected, winner = loop_max_pool2d(x, kernel, stride, padding, ceil_mode, stats)
    assert stats["tied"] > expected.size // 3
    assert (stats["partial"] > 0) == ceil_mode
    out, cache = max_pool2d_forward(xp.asarray(x), kernel, stride, padding, ceil_mode)
    assert route_of(cache) == expected_route(xp, routes, pairs)
    assert_matches_reference(xp, out, cache, expected, winner, shape, seed=8)


def test_max_pool2d_inputs_untouched_and_no_params():
    x = spread_input((1, 2, 5, 5), 6)
    copy = x.copy()
    layer = MaxPool2d(3, 2, padding=1)
    layer.backward(np.ones_like(layer.forward(x)))
    np.testing.assert_array_equal(x, copy)
    assert layer.params == {} and layer.grads == {}


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(kernel_size=0), ValueError, r"kernel_size must be >= 1 in both directions, got 0"),
    (dict(kernel_size="2"), TypeError, r"kernel_size must be an int or a pair of ints, got '2'"),
    (dict(stride=(1, 2, 3)), TypeError, r"stride must be an int or a pair of ints, got \(1, 2, 3\)"),
    (dict(padding=2), ValueError, r"padding must be at most half the kernel size \(2, 2\) .* got \(2, 2\)"),
    (dict(ceil_mode=1), TypeError, r"ceil_mode must be True or False, got 1"),
])
def test_max_pool2d_constructor_rejects_bad_arguments(kwargs, error, message):
    args = dict(kernel_size=2)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        MaxPool2d(**args)


@pytest.mark.parametrize("x, error, message", [
    (np.zeros((4, 4), np.float32), ValueError, r"x must be 4-D, got shape \(4, 4\) \(2-D\)"),
    (np.zeros((1, 1, 4, 4), np.int32), TypeError, r"x must have a floating dtype .* got int32"),
    (np.zeros((1, 1, 1, 4), np.float32), ValueError,
     r"x's spatial size \(1, 4\) with padding \(0, 0\) is smaller than the kernel \(2, 2\)"),
])
def test_max_pool2d_forward_rejects_bad_input(x, error, message):
    with pytest.raises(error, match=message):
        MaxPool2d(2).forward(x)


def test_max_pool2d_backward_rejects_wrong_dout_shape():
    out, cache = max_pool2d_forward(np.zeros((1, 1, 4, 4)), 2)
    message = r"dout must have the forward output's shape \(1, 1, 2, 2\), got \(1, 1, 2, 1\)"
    with pytest.raises(ValueError, match=message):
        max_pool2d_backward(out[..., :1], cache)


def test_reference_max_pool_defaults_are_pytorchs_stride_kernel_no_padding_floor_mode():
    from emsm_np.functional.max_pool2d import max_pool2d_forward as reference_forward
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    out, _ = reference_forward(x, 2)
    # stride = kernel, padding 0, floor: 2 x 2 windows at rows/cols 0-1 and 2-3.
    np.testing.assert_array_equal(out, [[[[6.0, 8.0], [16.0, 18.0]]]])
