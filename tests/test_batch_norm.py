"""Batch norm: gradients in train and eval mode, the forward formula, PyTorch's running statistics."""
import numpy as np
import pytest

from emsm_np import ops
from emsm_np.functional.batch_norm import batch_norm_backward, batch_norm_forward
from emsm_np.gradcheck import assert_gradients, assert_layer_gradients
from emsm_np.layers.batch_norm import BatchNorm1d, BatchNorm2d

# Every test runs without worker threads and with two (conftest.py: threads),
# on the reference and the fast CPU routes (conftest.py: routes).
pytestmark = pytest.mark.usefixtures("threads", "routes")
SHAPES = {"1d": (BatchNorm1d, (6, 3)), "2d": (BatchNorm2d, (3, 2, 3, 2))}


def make_bn(xp, kind, seed=0):
    """A float64 batch-norm layer with non-trivial gamma, beta and running statistics, and an input."""
    cls, shape = SHAPES[kind]
    rng = np.random.default_rng(seed)
    C = shape[1]
    layer = cls(C, dtype=np.float64)
    layer.params["weight"][...] = rng.uniform(0.5, 1.5, C)
    layer.params["bias"][...] = rng.standard_normal(C)
    layer.buffers["running_mean"][...] = rng.standard_normal(C)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, C)
    if xp is not np:
        layer.to("gpu")
    x = xp.asarray(rng.standard_normal(shape) * 2.0 + 1.0)
    return layer, x


def per_channel(x, c):
    """All values of channel c of an (N, C) or (N, C, H, W) array, as a flat vector."""
    return x[:, c].reshape(-1)


@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm_input_and_affine_gradients_match_finite_differences(xp, kind, mode):
    layer, x = make_bn(xp, kind)
    errors = assert_layer_gradients(layer, x, train=(mode == "train"), seed=11)
    assert set(errors) == {"x", "weight", "bias"}


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_functional_gradients_match_finite_differences(xp, train):
    rng = np.random.default_rng(5)
    x = xp.asarray(rng.standard_normal((4, 3, 2, 2)))
    gamma, beta = xp.asarray(rng.standard_normal(3)), xp.asarray(rng.standard_normal(3))
    rm, rv = xp.asarray(rng.standard_normal(3)), xp.asarray(rng.uniform(0.5, 2, 3))
    dout = xp.asarray(rng.standard_normal(x.shape))
    # batch_norm_forward returns (out, cache, running statistics): the third is not differentiated
    assert_gradients(lambda: batch_norm_forward(x, gamma, beta, rm, rv, train), batch_norm_backward,
                     {"x": x, "gamma": gamma, "beta": beta}, dout=dout)


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_batchnorm_train_forward_matches_direct_per_channel_formula(kind):
    layer, x = make_bn(np, kind)
    out = layer.forward(x, train=True)
    gamma, beta = layer.params["weight"], layer.params["bias"]
    for c in range(x.shape[1]):
        v = per_channel(x, c)
        expected = gamma[c] * (v - v.mean()) / np.sqrt(v.var() + 1e-5) + beta[c]
        np.testing.assert_allclose(per_channel(out, c), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_batchnorm_eval_normalises_with_running_statistics(kind):
    layer, x = make_bn(np, kind)
    rm, rv = layer.buffers["running_mean"].copy(), layer.buffers["running_var"].copy()
    out = layer.forward(x, train=False)
    gamma, beta = layer.params["weight"], layer.params["bias"]
    for c in range(x.shape[1]):
        expected = gamma[c] * (per_channel(x, c) - rm[c]) / np.sqrt(rv[c] + 1e-5) + beta[c]
        np.testing.assert_allclose(per_channel(out, c), expected, rtol=1e-12, atol=1e-12)
    # Eval mode reads the running statistics and never moves them.
    np.testing.assert_array_equal(layer.buffers["running_mean"], rm)
    np.testing.assert_array_equal(layer.buffers["running_var"], rv)


def test_batchnorm_running_stats_follow_pytorch_rule_on_a_worked_example():
    # One channel, values 1, 2, 3, 6: mean 3, unbiased variance (4 + 1 + 0 + 9) / 3 = 14/3.
    # From the initial (0, 1) with momentum 0.1:
    #   running_mean = 0.9 * 0 + 0.1 * 3    = 0.3
    #   running_var  = 0.9 * 1 + 0.1 * 14/3 = 1.3666...
    layer = BatchNorm1d(1, dtype=np.float64)
    layer.forward(np.array([[1.0], [2.0], [3.0], [6.0]]), train=True)
    np.testing.assert_allclose(layer.buffers["running_mean"], [0.3], rtol=1e-15)
    np.testing.assert_allclose(layer.buffers["running_var"], [0.9 + 0.1 * 14 / 3], rtol=1e-15)


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_batchnorm_running_stats_use_momentum_and_unbiased_variance_over_steps(kind):
    cls, shape = SHAPES[kind]
    layer = cls(shape[1], momentum=0.3, dtype=np.float64)
    rng = np.random.default_rng(7)
    mean, var = np.zeros(shape[1]), np.ones(shape[1])
    for _ in range(3):
        x = rng.standard_normal(shape) * 3 + 2
        layer.forward(x, train=True)
        for c in range(shape[1]):
            v = per_channel(x, c)
            mean[c] = 0.7 * mean[c] + 0.3 * v.mean()
            var[c] = 0.7 * var[c] + 0.3 * v.var(ddof=1)
    np.testing.assert_allclose(layer.buffers["running_mean"], mean, rtol=1e-13)
    np.testing.assert_allclose(layer.buffers["running_var"], var, rtol=1e-13)


def test_batchnorm_functional_returns_new_running_stats_and_leaves_inputs_untouched():
    x = np.random.default_rng(0).standard_normal((5, 2))
    gamma, beta, rm, rv = np.ones(2), np.zeros(2), np.zeros(2), np.ones(2)
    before = [a.copy() for a in (x, gamma, beta, rm, rv)]
    _, _, running = batch_norm_forward(x, gamma, beta, rm, rv, train=True, momentum=0.5)
    for a, b in zip((x, gamma, beta, rm, rv), before):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(running.mean, 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(running.var, 0.5 + 0.5 * x.var(axis=0, ddof=1))


def test_batchnorm_layer_updates_buffers_in_place():
    layer = BatchNorm2d(2)
    held = layer.buffers["running_mean"]
    layer.forward(np.ones((2, 2, 2, 2), dtype=np.float32) * 4, train=True)
    assert layer.buffers["running_mean"] is held
    np.testing.assert_allclose(held, [0.4, 0.4], rtol=1e-6)


def test_batchnorm_float32_layer_keeps_float32_output_and_buffers():
    layer = BatchNorm2d(3)
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2)).astype(np.float32)
    out = layer.forward(x, train=True)
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == dx.dtype == np.float32
    assert layer.buffers["running_var"].dtype == np.float32


def test_batchnorm_params_and_buffers_start_at_pytorch_defaults():
    layer = BatchNorm1d(4)
    np.testing.assert_array_equal(layer.params["weight"], np.ones(4))
    np.testing.assert_array_equal(layer.params["bias"], np.zeros(4))
    np.testing.assert_array_equal(layer.buffers["running_mean"], np.zeros(4))
    np.testing.assert_array_equal(layer.buffers["running_var"], np.ones(4))


# ------------------------------------------------------------------ bad input


def test_batchnorm2d_rejects_2d_input_naming_the_expected_layout():
    with pytest.raises(ValueError, match=r"BatchNorm2d expects x of shape \(N, C, H, W\), got shape \(4, 3\)"):
        BatchNorm2d(3).forward(np.zeros((4, 3), dtype=np.float32))


def test_batchnorm1d_rejects_4d_input_naming_the_expected_layout():
    with pytest.raises(ValueError, match=r"BatchNorm1d expects x of shape \(N, C\), got shape \(2, 3, 4, 4\)"):
        BatchNorm1d(3).forward(np.zeros((2, 3, 4, 4), dtype=np.float32))


def test_batchnorm_rejects_wrong_channel_count_naming_num_features():
    with pytest.raises(ValueError, match=r"x must have 8 channels \(num_features\) in dim 1, got shape \(2, 3, 4, 4\)"):
        BatchNorm2d(8).forward(np.zeros((2, 3, 4, 4), dtype=np.float32))


def test_batchnorm_train_rejects_a_single_value_per_channel():
    with pytest.raises(ValueError, match="needs more than 1 value per channel, got x of shape \\(1, 3\\)"):
        BatchNorm1d(3).forward(np.zeros((1, 3), dtype=np.float32), train=True)
    # Eval mode needs no batch statistics, so a batch of one is fine.
    BatchNorm1d(3).forward(np.zeros((1, 3), dtype=np.float32), train=False)


@pytest.mark.parametrize("x, exc, message", [
    (np.zeros((4, 3), dtype=np.int64), TypeError, "x must have a floating dtype"),
    ([[0.0, 1.0, 2.0]] * 4, TypeError, "x must be a NumPy or CuPy array, got list"),
])
def test_batchnorm_op_rejects_a_bad_x_naming_it(x, exc, message):
    with pytest.raises(exc, match=message):
        ops.batch_norm_forward(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))


def test_batchnorm_op_rejects_mismatched_parameter_shape():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\) to match the 3 channels of x"):
        ops.batch_norm_forward(x, np.ones(2), np.zeros(3), np.zeros(3), np.ones(3))


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"num_features": 0}, ValueError, "num_features must be >= 1, got 0"),
    ({"num_features": 3, "eps": 0.0}, ValueError, "eps must be > 0.0, got 0.0"),
    ({"num_features": 3, "momentum": 1.5}, ValueError, "momentum must be <= 1.0, got 1.5"),
    ({"num_features": 3, "momentum": None}, TypeError, "momentum must be a real number, got None"),
    ({"num_features": 3, "dtype": "int8"}, TypeError, "dtype must be float32 or float64, got int8"),
])
def test_batchnorm_constructor_rejects_bad_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        BatchNorm2d(**kwargs)


def test_batch_norm_statistics_are_accurate_for_float32_inputs_far_from_zero(routes):
    """1e5 float32 values per channel: the mean and variance are summed in float64 (summed
    in float32, this mean is off by ~8e-6 and the variance by ~2e-5 relative)."""
    from emsm_np import ops

    rng = np.random.default_rng(0)
    x = (1 + 0.01 * rng.standard_normal((100_000, 2))).astype(np.float32)
    C = x.shape[1]
    ones, zeros = np.ones(C, np.float32), np.zeros(C, np.float32)
    _, _, running = ops.batch_norm_forward(x, ones, zeros, zeros, ones, train=True, momentum=1.0)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(running.mean, x64.mean(axis=0), rtol=1e-6)
    m = x.shape[0]
    np.testing.assert_allclose(running.var, x64.var(axis=0) * m / (m - 1), rtol=1e-6)


def test_batch_norm_forward_defaults_are_eps_1e5_and_momentum_0_1():
    rng = np.random.default_rng(0)
    x = 1e-2 * rng.standard_normal((8, 3))  # variance ~1e-4: eps = 1e-5 shows in the output
    gamma, beta = np.ones(3), np.zeros(3)
    running_mean, running_var = np.zeros(3), np.ones(3)
    out, _, (new_mean, new_var) = batch_norm_forward(x, gamma, beta, running_mean, running_var)
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-9)
    np.testing.assert_allclose(new_mean, 0.1 * mean, rtol=1e-9)
    np.testing.assert_allclose(new_var, 0.9 + 0.1 * var * 8 / 7, rtol=1e-9)
