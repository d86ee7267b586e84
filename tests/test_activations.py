"""ReLU and PReLU: gradients (inputs kept off the kink at 0), forward formulas, bad input."""
import numpy as np
import pytest

from emsm_np.functional.prelu import prelu_backward, prelu_forward
from emsm_np.functional.relu import relu_backward, relu_forward
from emsm_np.gradcheck import KINK, assert_gradients, assert_layer_gradients
from emsm_np.layers.prelu import PReLU
from emsm_np.layers.relu import ReLU

# Every test runs without worker threads and with two (conftest.py: threads),
# on the reference and the fast CPU routes (conftest.py: routes).
pytestmark = pytest.mark.usefixtures("threads", "routes")


def off_kink(xp, shape, seed):
    """Random values with |x| in [0.1, 1]: central differences with eps 1e-6 never cross 0."""
    rng = np.random.default_rng(seed)
    return xp.asarray(rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 1.0, shape))


def on(xp, layer):
    return layer.to("gpu") if xp is not np else layer


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 2, 2)])
def test_relu_input_gradient_matches_finite_differences(xp, shape):
    assert_layer_gradients(ReLU(), off_kink(xp, shape, 0), seed=1, bound=KINK)


def test_relu_functional_gradient_matches_finite_differences(xp):
    x = off_kink(xp, (4, 3), 2)
    assert_gradients(lambda: relu_forward(x), relu_backward, {"x": x}, seed=3, bound=KINK)


def test_relu_forward_is_max_with_zero_and_keeps_dtype():
    x = np.array([[-2.0, -0.0, 0.5, 3.0]], dtype=np.float32)
    out, _ = relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 0.5, 3.0]])
    assert out.dtype == np.float32


def test_relu_gradient_at_zero_is_zero():
    x = np.array([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(relu_backward(np.ones(3), relu_forward(x)[1]), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("num_parameters, shape", [(1, (5, 4)), (1, (2, 3, 2, 2)), (4, (5, 4)), (3, (2, 3, 2, 2))])
def test_prelu_input_and_slope_gradients_match_finite_differences(xp, num_parameters, shape):
    layer = PReLU(num_parameters, dtype=np.float64)
    layer.params["weight"][...] = np.random.default_rng(4).uniform(0.05, 0.5, num_parameters)
    layer = on(xp, layer)
    errors = assert_layer_gradients(layer, off_kink(xp, shape, 5), seed=6, bound=KINK)
    assert set(errors) == {"x", "weight"}


def test_prelu_functional_gradients_match_finite_differences(xp):
    x = off_kink(xp, (3, 2, 2, 2), 7)
    a = xp.asarray([0.2, -0.3])
    assert_gradients(lambda: prelu_forward(x, a), prelu_backward, {"x": x, "a": a}, seed=8, bound=KINK)


@pytest.mark.parametrize("slopes", [[0.1, 0.2, 0.7], [0.0, 1.0, 0.3], [-0.3, 1.5, 0.2]])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_prelu_forward_matches_per_channel_formula(dtype, slopes):
    # Exactly, in either precision, with slopes inside [0, 1] (the max(H, a) form) and
    # outside (the general form): x where x > 0 (slope 1, not 1 - a + a), a * x elsewhere;
    # the cached local slope is exactly 1 or a.
    x = off_kink(np, (2, 3, 2, 2), 9).astype(dtype)
    a = np.array(slopes, dtype=dtype)
    out, cache = prelu_forward(x, a)
    for c in range(3):
        v = x[:, c]
        np.testing.assert_array_equal(out[:, c], np.where(v > 0, v, a[c] * v))
        np.testing.assert_array_equal(cache.local_slope[:, c], np.where(v > 0, dtype(1), a[c]))


def test_prelu_defaults_to_one_slope_of_a_quarter():
    layer = PReLU()
    np.testing.assert_array_equal(layer.params["weight"], np.array([0.25], dtype=np.float32))
    assert layer.params["weight"].dtype == np.float32
    out = layer.forward(np.array([[-4.0, 4.0]], dtype=np.float32))
    np.testing.assert_array_equal(out, [[-1.0, 4.0]])


def test_prelu_backward_writes_slope_gradient_in_place():
    layer = PReLU(2, dtype=np.float64)
    held = layer.grads["weight"]
    layer.forward(np.array([[-1.0, -2.0], [3.0, -4.0]]))
    layer.backward(np.ones((2, 2)))
    assert layer.grads["weight"] is held
    np.testing.assert_array_equal(held, [-1.0, -6.0])


# ------------------------------------------------------------------ bad input


def test_prelu_rejects_wrong_channel_count_naming_num_parameters():
    with pytest.raises(ValueError, match=r"x must have 3 channels \(num_parameters\) in dim 1, got shape \(2, 4, 5, 5\)"):
        PReLU(3).forward(np.zeros((2, 4, 5, 5), dtype=np.float32))


def test_prelu_rejects_dtype_mismatch():
    with pytest.raises(TypeError, match="x has dtype float64 but weight has dtype float32"):
        PReLU().forward(np.zeros((2, 2)))


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"num_parameters": 0}, ValueError, "num_parameters must be >= 1, got 0"),
    ({"num_parameters": 2.0}, TypeError, "num_parameters must be an integer, got 2.0"),
    ({"init": "0.25"}, TypeError, "init must be a real number, got '0.25'"),
    ({"init": float("nan")}, ValueError, "init must be finite, got nan"),
])
def test_prelu_constructor_rejects_bad_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        PReLU(**kwargs)


def test_relu_rejects_non_array_and_integer_input():
    with pytest.raises(TypeError, match="x must be a NumPy or CuPy array, got list"):
        ReLU().forward([1.0, -1.0])
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        ReLU().forward(np.array([1, -1]))


@pytest.mark.parametrize("args, exc, message", [
    (([[1.0]], np.array([0.25])), TypeError, r"^x must be a NumPy or CuPy array, got list$"),
    ((np.zeros((2, 3), np.int64), np.array([0.25])), TypeError, r"^x must have a floating dtype"),
    ((np.zeros((2, 3)), [0.25]), TypeError, r"^weight must be a NumPy or CuPy array, got list$"),
    ((np.zeros((2, 3)), np.full((1, 1), 0.25)), ValueError, r"^weight must be 1-D, got shape \(1, 1\) \(2-D\)$"),
])
def test_prelu_op_rejects_bad_input_naming_the_argument(args, exc, message):
    from emsm_np.ops import prelu_forward  # ops checks a forward's inputs, then picks a route

    with pytest.raises(exc, match=message):
        prelu_forward(*args)


def test_prelu_at_exactly_zero_outputs_zero_and_passes_the_slope_as_gradient():
    """At x = 0 the local slope is a (x > 0 is false), as in PyTorch: dx = a * dout there."""
    from emsm_np.functional.prelu import prelu_backward, prelu_forward

    x = np.array([[-1.0, 0.0, 2.0]])
    out, cache = prelu_forward(x, np.array([0.25]))
    np.testing.assert_array_equal(out, [[-0.25, 0.0, 2.0]])
    dx, da = prelu_backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(dx, [[0.25, 0.25, 1.0]])
    np.testing.assert_array_equal(da, [-1.0])
