"""Every fast CPU route (emsm_np.cpu) against its reference (emsm_np.functional), on the same inputs.

Forward values and every gradient, in float64 (to rounding: the routes add the
same terms in other orders) and float32, with and without worker threads
(conftest.py: threads), on the shapes of the networks and on odd ones. The
dispatcher (emsm_np.ops) is checked to send NumPy arrays to these routes and to
fall back to the reference where a route does not apply.
"""
import numpy as np
import pytest
from route_checks import DTYPES, data, same

from emsm_np import cpu, functional, ops
from emsm_np.functional import batch_norm, conv2d, linear, max_pool2d, prelu, relu

pytestmark = pytest.mark.usefixtures("threads")



@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(64, 32, 14, 14), (5, 3, 7, 9), (7, 10), ()])
def test_relu_route_equals_the_reference(shape, dtype):
    x, g = data(shape, dtype, 0), data(shape, dtype, 1)
    (out, cache), (ref_out, ref_cache) = cpu.relu.relu_forward(x), relu.relu_forward(x)
    same(out, ref_out, dtype)
    same(cpu.relu.relu_backward(g, cache), relu.relu_backward(g, ref_cache), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, slopes", [
    ((64, 16, 14, 14), np.linspace(0.0, 1.0, 16)),  # the usual slopes in [0, 1]
    ((5, 3, 7, 9), np.array([-0.3, 1.5, 0.2])),  # others: the general form
    ((9, 4), np.array([0.25])),  # one shared slope
])
def test_prelu_route_equals_the_reference(shape, slopes, dtype):
    x, g, a = data(shape, dtype, 2), data(shape, dtype, 3), slopes.astype(dtype)
    (out, cache), (ref_out, ref_cache) = cpu.prelu.prelu_forward(x, a), prelu.prelu_forward(x, a)
    same(out, ref_out, dtype)
    for got, want in zip(cpu.prelu.prelu_backward(g, cache), prelu.prelu_backward(g, ref_cache)):
        same(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d, k, bias", [(64, 3136, 128, True), (7, 6, 4, False), (1, 5, 3, True)])
def test_linear_route_equals_the_reference(n, d, k, bias, dtype):
    x, w, g = data((n, d), dtype, 4), data((d, k), dtype, 5), data((n, k), dtype, 6)
    b = data((k,), dtype, 7) if bias else None
    (out, cache), (ref_out, ref_cache) = cpu.linear.linear_forward(x, w, b), linear.linear_forward(x, w, b)
    same(out, ref_out, dtype)
    for got, want in zip(cpu.linear.linear_backward(g, cache), linear.linear_backward(g, ref_cache)):
        same(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(64, 32, 14, 14), (5, 3, 7, 9), (16, 10)])
def test_batch_norm_route_equals_the_reference(shape, train, dtype):
    C = shape[1]
    x, g = data(shape, dtype, 8) * 3 + 1, data(shape, dtype, 9)
    gamma, beta = data((C,), dtype, 10), data((C,), dtype, 11)
    mean, var = data((C,), dtype, 12), np.abs(data((C,), dtype, 13)) + 0.5
    ours = cpu.batch_norm.batch_norm_forward(x, gamma, beta, mean, var, train, 0.1, 1e-5)
    ref = batch_norm.batch_norm_forward(x, gamma, beta, mean, var, train, 0.1, 1e-5)
    same(ours[0], ref[0], dtype)
    for got, want in zip(ours[2], ref[2]):  # the running statistics
        same(got, want, dtype)
    for got, want in zip(cpu.batch_norm.batch_norm_backward(g, ours[1]),
                         batch_norm.batch_norm_backward(g, ref[1])):
        same(got, want, dtype)


# (N, C, H, W), (F, kh, kw), stride, padding: the networks' layers (LeNet's 1 -> 32 5x5 and
# 32 -> 64 5x5, LiuNet's 64 -> 64 3x3) and odd ones (strides, non-square, C < F and C > F),
# and the strategies of emsm_np.cpu.conv2d that each takes (forward, dW, dx): between them, all.
CONV_CASES = [
    ((8, 1, 28, 28), (32, 5, 5), 1, 2, ("_forward_per_image", "_dw_per_image", "_dx_rows")),
    ((8, 32, 14, 14), (64, 5, 5), 1, 2, ("_forward_rows", "_dw_rows", "_dx_rows")),
    ((4, 64, 14, 14), (64, 3, 3), 1, 1, ("_forward_rows", "_dw_rows", "_dx_rows")),
    ((3, 3, 9, 7), (8, 3, 2), (2, 1), (1, 0), ("_forward_per_image", "_dw_per_image", "_dx_col2im")),
    ((2, 12, 6, 8), (4, 3, 3), 2, 1, ("_forward_im2col", "_dw_im2col", "_dx_flipped")),
]
CONV_STRATEGIES = {name for name in vars(cpu.conv2d) if name.startswith(("_forward_", "_dw_", "_dx_"))}


def record_conv2d_strategies(monkeypatch):
    """The names of the strategy functions of emsm_np.cpu.conv2d that run, in order."""
    ran = []
    for name in CONV_STRATEGIES:
        real = getattr(cpu.conv2d, name)
        monkeypatch.setattr(cpu.conv2d, name, lambda *args, _real=real, _name=name: ran.append(_name) or _real(*args))
    return ran


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("xshape, wshape, stride, padding, strategies", CONV_CASES)
def test_conv2d_routes_equal_the_reference(monkeypatch, xshape, wshape, stride, padding, strategies, need_dx, dtype):
    x = data(xshape, dtype, 14)
    w = (data((wshape[0], xshape[1]) + wshape[1:], dtype, 15) / np.sqrt(xshape[1] * wshape[1] * wshape[2])).astype(dtype)
    b = data(wshape[:1], dtype, 16)
    ran = record_conv2d_strategies(monkeypatch)
    out, cache = cpu.conv2d.conv2d_forward(x, w, b, stride, padding)
    ref_out, ref_cache = conv2d.conv2d_forward(x, w, b, stride, padding)
    same(out, ref_out, dtype)
    g = data(out.shape, dtype, 17)
    for got, want in zip(cpu.conv2d.conv2d_backward(g, cache, need_dx), conv2d.conv2d_backward(g, ref_cache, need_dx)):
        same(got, want, dtype)
    assert sorted(ran) == sorted(strategies if need_dx else strategies[:2])


def test_the_conv2d_cases_take_every_strategy():
    assert len(CONV_STRATEGIES) == 9 and all(callable(getattr(cpu.conv2d, name)) for name in CONV_STRATEGIES)
    assert {name for case in CONV_CASES for name in case[-1]} == CONV_STRATEGIES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, ceil_mode", [((64, 32, 28, 28), True), ((5, 3, 7, 9), True), ((5, 3, 7, 9), False)])
def test_pairwise_max_pool_equals_the_reference_with_ties(shape, ceil_mode, dtype):
    x = np.random.default_rng(18).integers(-2, 3, shape).astype(dtype)  # many ties
    out, cache = cpu.max_pool2d.max_pool2d_forward(x, 2, 2, 0, ceil_mode)
    ref_out, ref_cache = max_pool2d.max_pool2d_forward(x, 2, 2, 0, ceil_mode)
    same(out, ref_out, dtype)
    g = data(out.shape, dtype, 19)
    same(cpu.max_pool2d.max_pool2d_backward(g, cache), max_pool2d.max_pool2d_backward(g, ref_cache), dtype)


def test_the_dispatcher_sends_numpy_arrays_to_the_cpu_routes_and_the_rest_to_the_reference(monkeypatch):
    x = data((2, 3, 8, 8), np.float64, 20)
    w = data((4, 3, 3, 3), np.float64, 21)
    assert isinstance(ops.conv2d_forward(x, w, None, 1, 1)[1], cpu.conv2d.CpuConv2dCache)
    assert isinstance(ops.max_pool2d_forward(x, 2)[1], cpu.max_pool2d.PairsCache)
    assert isinstance(ops.max_pool2d_forward(x, 3, 1, 1)[1], functional.max_pool2d.MaxPool2dCache)  # no fast route
    with ops.reference_routes():
        assert not ops.fast_routes_enabled()
        assert isinstance(ops.conv2d_forward(x, w, None, 1, 1)[1], functional.conv2d.Conv2dCache)
        assert isinstance(ops.max_pool2d_forward(x, 2)[1], functional.max_pool2d.MaxPool2dCache)
    assert ops.fast_routes_enabled()
    calls = []
    monkeypatch.setattr(cpu.relu, "relu_forward", lambda x: calls.append("cpu") or relu.relu_forward(x))
    ops.relu_forward(x)
    with ops.reference_routes():
        ops.relu_forward(x)
    assert calls == ["cpu"]


def test_a_backward_pass_follows_its_forward_route():
    x = data((2, 3, 8, 8), np.float64, 22)
    w = data((4, 3, 3, 3), np.float64, 23)
    with ops.reference_routes():
        out, ref_cache = ops.conv2d_forward(x, w, None, 1, 1)
    fast_out, fast_cache = ops.conv2d_forward(x, w, None, 1, 1)
    g = data(out.shape, np.float64, 24)
    for got, want in zip(ops.conv2d_backward(g, fast_cache), ops.conv2d_backward(g, ref_cache)):
        same(got, want, np.float64)


def test_fast_routes_switch_takes_only_a_bool():
    with pytest.raises(TypeError, match="enabled must be True or False, got 1"):
        ops.set_fast_routes(1)


def test_emsm_reference_in_the_environment_switches_the_fast_routes_off():
    import os
    import subprocess
    import sys

    code = "from emsm_np import ops; print(ops.fast_routes_enabled())"
    for value, expected in (("1", "False"), ("", "True")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "EMSM_REFERENCE": value})
        assert out.stdout.strip() == expected
