"""Inverted dropout: gradient with a fixed mask, E[out] = x, drop rate p, eval identity, seeds."""
import numpy as np
import pytest

from emsm_np import ops
from emsm_np.backend import asnumpy
from emsm_np.functional.dropout import dropout_backward, dropout_forward, dropout_mask
from emsm_np.gradcheck import SMOOTH, assert_gradients
from emsm_np.layers.dropout import Dropout


def test_dropout_input_gradient_with_a_fixed_mask_matches_finite_differences(xp):
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((4, 6)))
    mask = xp.asarray(rng.random((4, 6)) >= 0.4)
    dout = xp.asarray(rng.standard_normal((4, 6)))
    # With the mask fixed, dropout is linear in x: the smooth bound.
    assert_gradients(lambda: dropout_forward(x, mask, 0.4), dropout_backward, {"x": x}, dout=dout, bound=SMOOTH)


def test_dropout_forward_zeroes_dropped_entries_and_scales_kept_ones():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    mask = np.array([[True, False, True, False]])
    out, _ = dropout_forward(x, mask, 0.75)
    np.testing.assert_allclose(out, [[4.0, 0.0, 12.0, 0.0]])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_preserves_the_expected_value_and_drops_a_fraction_p(xp, p):
    n = 200_000
    layer = Dropout(p, rng=0)
    out = asnumpy(layer.forward(xp.ones((n, 1)), train=True))
    dropped = float((out == 0).mean())
    # Binomial: std of the drop fraction sqrt(p(1-p)/n) <= 0.0012; of the mean sqrt(p/((1-p)n)) <= 0.0045.
    assert abs(dropped - p) < 0.006
    assert abs(out.mean() - 1.0) < 0.02
    np.testing.assert_allclose(out[out != 0], 1.0 / (1.0 - p), rtol=1e-12)


def test_dropout_layer_backward_uses_the_forward_mask(xp):
    layer = Dropout(0.5, rng=1)
    x = xp.asarray(np.random.default_rng(2).uniform(0.5, 1.5, (8, 5)))
    out = layer.forward(x, train=True)
    dy = xp.ones_like(x)
    dx = layer.backward(dy)
    np.testing.assert_allclose(asnumpy(dx), asnumpy((out != 0) * 2.0))


def test_dropout_is_identity_in_eval_mode_and_for_p_zero(xp):
    x = xp.asarray(np.random.default_rng(3).standard_normal((6, 4)))
    for layer, train in [(Dropout(0.5, rng=0), False), (Dropout(0.0, rng=0), True)]:
        np.testing.assert_array_equal(asnumpy(layer.forward(x, train=train)), asnumpy(x))
        np.testing.assert_array_equal(asnumpy(layer.backward(x)), asnumpy(x))


def test_dropout_masks_are_deterministic_for_a_seed_and_fresh_each_forward():
    x = np.ones((10, 10))
    a, b, c = Dropout(0.5, rng=42), Dropout(0.5, rng=42), Dropout(0.5, rng=43)
    a1, a2 = a.forward(x), a.forward(x)
    b1, b2 = b.forward(x), b.forward(x)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)               # a new mask every forward
    assert not np.array_equal(a1, c.forward(x))      # another seed, another mask


def test_dropout_mask_is_drawn_on_the_device_of_x(xp):
    mask = dropout_mask(xp.ones((3, 4)), 0.5, None if xp is not np else 0)
    assert type(mask) is type(xp.ones(1))
    assert mask.dtype == bool and mask.shape == (3, 4)


def test_dropout_keeps_float32():
    out = Dropout(0.5, rng=0).forward(np.ones((4, 4), dtype=np.float32))
    assert out.dtype == np.float32


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("p, exc, message", [
    (1.0, ValueError, r"p must be in \[0, 1\) \(the probability of dropping an entry\), got 1.0"),
    (-0.1, ValueError, "p must be >= 0.0, got -0.1"),
    ("0.5", TypeError, "p must be a real number, got '0.5'"),
])
def test_dropout_rejects_p_outside_zero_one(p, exc, message):
    with pytest.raises(exc, match=message):
        Dropout(p)


def test_dropout_op_rejects_a_mask_of_the_wrong_shape_and_a_bad_p():
    with pytest.raises(ValueError, match=r"mask must have the shape of x \(2, 3\), got \(3, 2\)"):
        ops.dropout_forward(np.ones((2, 3)), np.ones((3, 2), dtype=bool), 0.5)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        ops.dropout_forward(np.ones((2, 3)), np.ones((2, 3), dtype=bool), 1.0)


def test_dropout_rejects_non_array_input():
    with pytest.raises(TypeError, match="x must be a NumPy or CuPy array, got list"):
        Dropout(0.5).forward([1.0, 2.0])


# ------------------------------------------------------------------ checkpoints


def test_dropout_rng_is_the_numpy_generator_that_the_training_loop_checkpoints():
    from types import SimpleNamespace

    from emsm_np.layers.sequential import Sequential
    from emsm_np.training.loop import _rng_layers

    layer = Dropout(0.5, rng=0)
    assert isinstance(layer.rng, np.random.Generator)
    net = SimpleNamespace(features=Sequential(Dropout(0.0), layer))
    assert [i for i, _ in _rng_layers(net)] == [0, 1]
    assert _rng_layers(net)[1][1].rng is layer.rng


def test_restoring_the_saved_generator_state_reproduces_the_same_masks(xp):
    x = xp.ones((6, 7))
    layer = Dropout(0.5, rng=0)
    layer.forward(x)  # the state is saved mid-run, as a checkpoint is
    saved = layer.rng.bit_generator.state
    expected = [asnumpy(layer.forward(x)) for _ in range(3)]
    layer.rng.bit_generator.state = saved  # the same layer, rewound
    np.testing.assert_array_equal([asnumpy(layer.forward(x)) for _ in range(3)], expected)
    resumed = Dropout(0.5, rng=123)  # a fresh layer, as after a restart
    resumed.rng.bit_generator.state = saved
    np.testing.assert_array_equal([asnumpy(resumed.forward(x)) for _ in range(3)], expected)


def test_assigning_rng_replaces_the_generator():
    x = np.ones((6, 7))
    a, b = Dropout(0.5, rng=1), Dropout(0.5, rng=2)
    b.rng = 1
    assert isinstance(b.rng, np.random.Generator)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))


@pytest.mark.parametrize("call, exc, message", [
    (lambda: dropout_mask([[1.0]], 0.5), TypeError, r"^x must be a NumPy or CuPy array, got list$"),
    (lambda: ops.dropout_forward([[1.0]], np.ones((1, 1), bool), 0.5), TypeError, r"^x must be a NumPy or CuPy array"),
    (lambda: ops.dropout_forward(np.ones((1, 1)), [[True]], 0.5), TypeError, r"^mask must be a NumPy or CuPy array"),
])
def test_dropout_mask_and_op_reject_bad_input_naming_the_argument(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_dropout_mask_from_a_seed_is_reproducible_and_keeps_about_1_minus_p():
    x = np.zeros((200, 50))
    a, b = dropout_mask(x, 0.3, rng=7), dropout_mask(x, 0.3, rng=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, dropout_mask(x, 0.3, rng=8))
    assert abs(a.mean() - 0.7) < 0.02


def test_dropout_backward_keeps_dout_dtype():
    x = np.ones((4, 3), np.float32)
    mask = np.array([[True, False, True]] * 4)
    out, cache = dropout_forward(x, mask, 0.5)
    dx = dropout_backward(np.ones((4, 3), np.float32), cache)
    assert dx.dtype == np.float32 and out.dtype == np.float32
    np.testing.assert_array_equal(dx, [[2.0, 0.0, 2.0]] * 4)
