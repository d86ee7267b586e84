"""gradcheck itself: the relative error, central differences, and that it catches wrong gradients.

The checks of numerical_gradient against closed-form derivatives use 1e-9, tighter
than SMOOTH: no backward pass is involved, only the central difference's own
truncation and round-off (~1e-10 at EPS = 1e-6).
"""
import numpy as np
import pytest

from emsm_np import gradcheck
from emsm_np.functional.linear import linear_backward, linear_forward
from emsm_np.gradcheck import KINK, SMOOTH, assert_gradients, assert_gradients_match, assert_layer_gradients
from emsm_np.layers import Linear


def test_rel_error_formula():
    a = np.array([1.0, 2.0])
    n = np.array([1.0, 2.5])
    assert gradcheck.rel_error(a, n) == pytest.approx(0.5 / 4.5)
    assert gradcheck.rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert gradcheck.rel_error(np.array([1e-9]), np.array([0.0])) == pytest.approx(1e-9 / 1e-8)
    with pytest.raises(ValueError, match="same shape"):
        gradcheck.rel_error(np.zeros(2), np.zeros(3))


def test_numerical_gradient_of_a_cubic_and_x_is_restored():
    x = np.random.default_rng(0).standard_normal((3, 4))
    x0 = x.copy()
    num = gradcheck.numerical_gradient(lambda: (x ** 3).sum(), x)
    assert gradcheck.rel_error(3 * x ** 2, num) < 1e-9
    np.testing.assert_array_equal(x, x0)


def test_numerical_gradient_works_on_non_contiguous_views():
    base = np.random.default_rng(1).standard_normal((4, 6))
    x = base[:, ::2]
    num = gradcheck.numerical_gradient(lambda: (np.sin(x)).sum(), x)
    assert gradcheck.rel_error(np.cos(x), num) < 1e-9


def test_vjp_check_catches_a_wrong_jacobian():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(5)
    dout = rng.standard_normal(5)
    f = lambda: x ** 2
    assert gradcheck.check_function(f, {"x": x}, {"x": 2 * x * dout}, dout=dout)["x"] < 1e-9
    assert gradcheck.check_function(f, {"x": x}, {"x": 2.01 * x * dout}, dout=dout)["x"] > 1e-3


def test_check_layer_reports_every_parameter_and_catches_a_broken_backward():
    layer = Linear(4, 3, dtype=np.float64, rng=0)
    x = np.random.default_rng(3).standard_normal((5, 4))
    errors = gradcheck.check_layer(layer, x)
    assert set(errors) == {"x", "weight", "bias"} and max(errors.values()) < SMOOTH

    class Broken(Linear):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["weight"] *= 1.1
            return dx

    bad = Broken(4, 3, dtype=np.float64, rng=0)
    assert gradcheck.check_layer(bad, x)["weight"] > 1e-3


def test_float32_inputs_are_refused():
    x = np.zeros(3, np.float32)
    with pytest.raises(TypeError, match="x must be float64 for a finite-difference check, got float32"):
        gradcheck.numerical_gradient(lambda: x.sum(), x)


# ---------------------------------------------------------------- the bounds


def test_the_bounds_are_the_documented_ones_and_a_wrong_gradient_is_far_above_both():
    assert (SMOOTH, KINK, gradcheck.EPS) == (1e-7, 1e-5, 1e-6)
    x = np.random.default_rng(4).standard_normal(6)
    f = lambda: (np.sin(x) * x).sum()  # noqa: E731
    right = np.cos(x) * x + np.sin(x)
    wrong = 1.01 * right  # a 1 % error in one factor
    assert gradcheck.check_function(f, {"x": x}, {"x": right})["x"] < SMOOTH / 100
    assert gradcheck.check_function(f, {"x": x}, {"x": wrong})["x"] > 100 * KINK


# ---------------------------------------------------------------- assert_gradients


def linear_case(xp, seed=5):
    rng = np.random.default_rng(seed)
    return [xp.asarray(rng.standard_normal(s)) for s in [(3, 4), (4, 2), (2,)]]


def scaled(backward, name, factor):
    """``backward`` with the gradient named ``name`` (of x, W, b) multiplied by ``factor``."""
    def wrong(dout, cache):
        return tuple(factor * g if n == name else g for n, g in zip("xWb", backward(dout, cache)))
    return wrong


def test_assert_gradients_passes_on_a_correct_backward_and_returns_every_error(xp):
    x, W, b = linear_case(xp)
    errors = assert_gradients(lambda: linear_forward(x, W, b), linear_backward, {"x": x, "W": W, "b": b})
    assert list(errors) == ["x", "W", "b"] and max(errors.values()) < SMOOTH


@pytest.mark.parametrize("name", ["x", "W", "b"])
def test_assert_gradients_fails_naming_the_input_whose_gradient_has_a_wrong_factor(name):
    x, W, b = linear_case(np)
    with pytest.raises(AssertionError) as failure:
        assert_gradients(lambda: linear_forward(x, W, b), scaled(linear_backward, name, 1.01),
                         {"x": x, "W": W, "b": b})
    lines = str(failure.value).splitlines()
    assert "< 1e-07" in lines[0]
    row = {line.split()[0]: line for line in lines[1:]}
    assert set(row) == {"x", "W", "b"}
    assert "FAILS (>= 1e-07)" in row[name]
    assert all(row[other].endswith("ok") for other in row if other != name)
    assert float(row[name].split()[1]) > 1e-3  # the relative error itself, printed


def test_assert_gradients_draws_dout_from_the_seed_and_takes_a_given_one():
    x, W, b = linear_case(np)
    seen = []

    def backward(dout, cache):
        seen.append(dout)
        return linear_backward(dout, cache)

    inputs = {"x": x, "W": W, "b": b}
    assert_gradients(lambda: linear_forward(x, W, b), backward, inputs, seed=7)
    np.testing.assert_array_equal(seen[-1], np.random.default_rng(7).standard_normal((3, 2)))
    given = np.arange(6.0).reshape(3, 2)
    assert_gradients(lambda: linear_forward(x, W, b), backward, inputs, dout=given)
    assert seen[-1] is given


def test_assert_gradients_on_a_loss_uses_one_or_the_given_dloss():
    z = np.random.default_rng(6).standard_normal(5)
    forward = lambda: ((z ** 2).sum(), z)  # noqa: E731  (loss, cache)
    backward = lambda dloss, cache: 2 * dloss * cache  # noqa: E731
    assert_gradients(forward, backward, {"z": z})
    assert_gradients(forward, backward, {"z": z}, dout=-2.5)
    with pytest.raises(AssertionError, match=r"z .* FAILS"):
        assert_gradients(forward, lambda dloss, cache: 2 * cache, {"z": z}, dout=-2.5)  # dloss ignored


def test_assert_gradients_checks_the_kinked_bound_when_told():
    x = np.array([0.5, -0.3, 1.2])
    forward = lambda: (np.abs(x), np.sign(x))  # noqa: E731
    errors = assert_gradients(forward, lambda dout, sign: dout * sign, {"x": x}, bound=KINK)
    assert errors["x"] < KINK
    with pytest.raises(AssertionError, match=r"< 1e-05"):
        assert_gradients(forward, lambda dout, sign: dout, {"x": x}, bound=KINK)  # the slope of x < 0 missed


def test_assert_gradients_fails_on_a_nan_gradient():
    x, W, b = linear_case(np)
    with pytest.raises(AssertionError, match=r"b +nan +FAILS"):
        assert_gradients(lambda: linear_forward(x, W, b), scaled(linear_backward, "b", np.nan),
                         {"x": x, "W": W, "b": b})


def test_assert_gradients_refuses_gradients_it_cannot_pair_with_the_inputs():
    x, W, _ = linear_case(np)
    forward = lambda: linear_forward(x, W, None)  # noqa: E731  backward returns (dx, dW, None)
    with pytest.raises(ValueError, match=r"backward returned 3 gradient\(s\) for 2 input\(s\) \(x, W\)"):
        assert_gradients(forward, linear_backward, {"x": x, "W": W})
    assert_gradients(forward, lambda dout, cache: linear_backward(dout, cache)[:2], {"x": x, "W": W})
    with pytest.raises(ValueError, match=r"backward returned no gradient for W"):
        assert_gradients(forward, lambda dout, cache: {"x": linear_backward(dout, cache)[0]}, {"x": x, "W": W})


def test_assert_gradients_match_takes_gradients_already_computed():
    x = np.random.default_rng(8).standard_normal(4)
    f = lambda: (x ** 3).sum()  # noqa: E731
    assert assert_gradients_match(f, {"x": x}, {"x": 3 * x ** 2})["x"] < SMOOTH
    with pytest.raises(AssertionError, match=r"x +\S+ +FAILS \(>= 1e-07\)"):
        assert_gradients_match(f, {"x": x}, {"x": 3.03 * x ** 2})


def test_assert_layer_gradients_names_the_broken_parameter():
    x = np.random.default_rng(3).standard_normal((5, 4))
    assert set(assert_layer_gradients(Linear(4, 3, dtype=np.float64, rng=0), x)) == {"x", "weight", "bias"}

    class Broken(Linear):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["bias"] *= 0.99
            return dx

    with pytest.raises(AssertionError) as failure:
        assert_layer_gradients(Broken(4, 3, dtype=np.float64, rng=0), x)
    message = str(failure.value)
    assert message.startswith("Broken.backward against central differences")
    assert [line.split()[0] for line in message.splitlines() if "FAILS" in line] == ["bias"]
