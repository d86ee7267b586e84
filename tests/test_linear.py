"""Linear layer: out = x @ W + b with W of shape (in_features, out_features)."""
import numpy as np
import pytest

from emsm_np.functional.linear import linear_backward, linear_forward
from emsm_np.gradcheck import assert_gradients, assert_layer_gradients
from emsm_np.layers.linear import Linear

# Every test runs without worker threads and with two (conftest.py: threads),
# on the reference and the fast CPU routes (conftest.py: routes).
pytestmark = pytest.mark.usefixtures("threads", "routes")


def on(xp, layer):
    return layer.to("gpu") if xp is not np else layer


def loop_linear(x, W, b):
    """out[n, k] = sum_i x[n, i] W[i, k] + b[k], one output at a time."""
    N, K = x.shape[0], W.shape[1]
    out = np.zeros((N, K))
    for n in range(N):
        for k in range(K):
            out[n, k] = sum(x[n, i] * W[i, k] for i in range(W.shape[0])) + (b[k] if b is not None else 0.0)
    return out


@pytest.mark.parametrize("bias", [True, False])
def test_linear_input_weight_and_bias_gradients_match_finite_differences(xp, bias):
    layer = on(xp, Linear(5, 3, bias=bias, dtype=np.float64, rng=1))
    x = xp.asarray(np.random.default_rng(2).standard_normal((4, 5)))
    errors = assert_layer_gradients(layer, x, seed=3)
    assert set(errors) == ({"x", "weight", "bias"} if bias else {"x", "weight"})


def test_linear_functional_gradients_match_finite_differences(xp):
    rng = np.random.default_rng(4)
    x, W, b = (xp.asarray(rng.standard_normal(s)) for s in [(3, 4), (4, 2), (2,)])
    dout = xp.asarray(rng.standard_normal((3, 2)))
    assert_gradients(lambda: linear_forward(x, W, b), linear_backward, {"x": x, "W": W, "b": b}, dout=dout)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_matches_loop_reference(bias):
    layer = Linear(4, 3, bias=bias, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).standard_normal((5, 4))
    expected = loop_linear(x, layer.params["weight"], layer.params.get("bias"))
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_linear_without_bias_returns_no_bias_gradient():
    x, W = np.ones((2, 3)), np.ones((3, 4))
    _, _, dbias = linear_backward(np.ones((2, 4)), linear_forward(x, W, None)[1])
    assert dbias is None


def test_linear_weight_is_in_by_out_and_drawn_from_pytorch_uniform_bound():
    layer = Linear(16, 7, rng=0)
    W, b = layer.params["weight"], layer.params["bias"]
    assert W.shape == (16, 7) and b.shape == (7,)
    assert W.dtype == np.float32 and b.dtype == np.float32
    bound = 1 / np.sqrt(16)
    assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
    # Uniform on [-bound, bound] fills it: the extremes come near the bound.
    assert np.abs(W).max() > 0.9 * bound


def test_linear_init_is_deterministic_for_a_seed():
    a, b, c = Linear(6, 4, rng=5), Linear(6, 4, rng=5), Linear(6, 4, rng=6)
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])
    np.testing.assert_array_equal(a.params["bias"], b.params["bias"])
    assert not np.array_equal(a.params["weight"], c.params["weight"])


def test_linear_backward_writes_grads_in_place():
    layer = Linear(3, 2, dtype=np.float64, rng=0)
    held = layer.grads["weight"]
    x = np.random.default_rng(1).standard_normal((4, 3))
    layer.forward(x)
    layer.backward(np.ones((4, 2)))
    assert layer.grads["weight"] is held
    np.testing.assert_allclose(held, x.T @ np.ones((4, 2)))


def test_linear_float32_layer_keeps_float32():
    layer = Linear(3, 2, rng=0)
    out = layer.forward(np.ones((2, 3), dtype=np.float32))
    assert out.dtype == np.float32
    assert layer.backward(np.ones((2, 2), dtype=np.float32)).dtype == np.float32


# ------------------------------------------------------------------ bad input


def test_linear_rejects_wrong_feature_count_naming_in_features():
    layer = Linear(16, 4)
    with pytest.raises(ValueError, match=r"x must have 16 features \(in_features\) in dim 1, got shape \(4, 3\)"):
        layer.forward(np.zeros((4, 3), dtype=np.float32))


def test_linear_rejects_non_2d_input():
    with pytest.raises(ValueError, match=r"x must be 2-D, got shape \(2, 3, 4\)"):
        Linear(3, 2).forward(np.zeros((2, 3, 4), dtype=np.float32))


def test_linear_rejects_non_array_and_integer_input():
    with pytest.raises(TypeError, match="x must be a NumPy or CuPy array, got list"):
        Linear(2, 2).forward([[1.0, 2.0]])
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        Linear(2, 2).forward(np.ones((1, 2), dtype=np.int64))


def test_linear_rejects_dtype_mismatch_with_a_hint():
    with pytest.raises(TypeError, match=r"x has dtype float64 but weight has dtype float32; .*x\.astype\(weight\.dtype\)"):
        Linear(2, 2).forward(np.ones((1, 2)))


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"in_features": 0, "out_features": 2}, ValueError, "in_features must be >= 1, got 0"),
    ({"in_features": "3", "out_features": 2}, TypeError, "in_features must be an integer, got '3'"),
    ({"in_features": 3, "out_features": 2.5}, TypeError, "out_features must be an integer, got 2.5"),
    ({"in_features": 3, "out_features": 2, "bias": "yes"}, TypeError, "bias must be True or False, got 'yes'"),
    ({"in_features": 3, "out_features": 2, "dtype": np.int32}, TypeError, "dtype must be float32 or float64, got int32"),
])
def test_linear_constructor_rejects_bad_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        Linear(**kwargs)


def test_linear_backward_rejects_wrong_upstream_shape():
    layer = Linear(3, 2, rng=0)
    layer.forward(np.ones((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(4, 2\), got \(4, 3\)"):
        layer.backward(np.ones((4, 3), dtype=np.float32))


def test_linear_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Linear(3, 2).backward(np.ones((1, 2), dtype=np.float32))
