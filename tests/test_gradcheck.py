"""gradcheck itself: the relative error, central differences, and that it catches wrong gradients."""
import numpy as np
import pytest

from emsm_np import gradcheck
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
    assert set(errors) == {"x", "weight", "bias"} and max(errors.values()) < 1e-7

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
