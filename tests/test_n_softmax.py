"""N-Softmax [NormFace 2017]: softmax of scaled cosines; the gradients of x, W and the scale
against finite differences, its invariances, stability at ||x|| = 0, and the head with a
fixed or a learned scale."""
import numpy as np
import pytest
from compared_heads import (
    BAD_ARRAY_IDS,
    BAD_ARRAYS,
    assert_feature_gradients,
    assert_gpu_step_copies_nothing,
    assert_head_contract,
    assert_head_matches_function,
    assert_network_trains_with,
    make,
)
from scipy.special import log_softmax

from emsm_np.gradcheck import assert_gradients_match
from emsm_np.losses import NSoftmax, n_softmax_loss
from emsm_np.optim import SGD


def cosines(x, W):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (W / np.linalg.norm(W, axis=0))


def test_loss_is_softmax_cross_entropy_of_the_scaled_cosines():
    x, W, y = make(np, seed=1)
    loss, _, _ = n_softmax_loss(x, W, y, scale=7.0)
    expected = -log_softmax(7.0 * cosines(x, W), axis=1)[np.arange(len(y)), y].mean()
    assert loss == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("scale", [1.0, 16.0])
def test_feature_and_weight_gradients_match_finite_differences(xp, scale):
    x, W, y = make(xp, seed=2)
    assert_feature_gradients(n_softmax_loss, x, W, y, scale=scale)


def test_scale_gradient_matches_finite_differences_and_is_sum_of_logit_gradient_times_cos():
    x, W, y = make(np, seed=3)
    s = np.array(5.0)
    loss, dx, dW, dscale = n_softmax_loss(x, W, y, scale=float(s), learn_scale=True)
    assert_gradients_match(lambda: n_softmax_loss(x, W, y, scale=float(s))[0], {"scale": s},
                           {"scale": np.array(dscale)})
    p = np.exp(log_softmax(5.0 * cosines(x, W), axis=1))
    p[np.arange(len(y)), y] -= 1
    assert dscale == pytest.approx((p * cosines(x, W)).sum() / len(y), rel=1e-12)


def test_the_loss_ignores_the_norms_of_features_and_columns_and_the_gradients_are_tangent():
    x, W, y = make(np, seed=4)
    loss, dx, dW = n_softmax_loss(x, W, y)
    rescaled, _, _ = n_softmax_loss(x * np.arange(1, 9)[:, None], W * np.array([0.2, 1, 3, 9]), y)
    assert rescaled == pytest.approx(loss, abs=1e-12)
    np.testing.assert_allclose((x * dx).sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose((W * dW).sum(axis=0), 0, atol=1e-12)


def test_learn_scale_only_adds_the_scale_gradient():
    x, W, y = make(np, seed=5)
    fixed = n_softmax_loss(x, W, y, scale=3.0)
    learned = n_softmax_loss(x, W, y, scale=3.0, learn_scale=True)
    assert len(fixed) == 3 and len(learned) == 4
    assert fixed[0] == learned[0]
    np.testing.assert_array_equal(fixed[1], learned[1])
    np.testing.assert_array_equal(fixed[2], learned[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_zero_feature_and_a_zero_column_give_finite_loss_and_gradients(dtype):
    x, W, y = make(np, seed=6)
    x[0] = 0.0
    W[:, 1] = 0.0
    x, W = x.astype(dtype), W.astype(dtype)
    loss, dx, dW, dscale = n_softmax_loss(x, W, y, learn_scale=True)
    assert np.isfinite(loss) and np.isfinite(dx).all() and np.isfinite(dW).all() and np.isfinite(dscale)
    assert dx.dtype == dtype and dW.dtype == dtype


# ---------------------------------------------------------------- the head


def test_head_with_a_fixed_scale_matches_the_function_and_keeps_the_em_softmax_head_interface():
    x, W, y = make(np)
    head = NSoftmax(5, 4, scale=8.0, dtype=np.float64)
    assert_head_matches_function(head, n_softmax_loss, x, W, y, scale=8.0)
    assert set(head.params) == {"weight"} and head.no_decay == ()
    np.testing.assert_allclose(head.logits(x), 8.0 * cosines(x, W), rtol=1e-12)
    assert_head_contract(head, x, y)


def test_head_with_a_learned_scale_fills_its_gradient_and_matches_finite_differences():
    x, W, y = make(np, seed=7)
    head = NSoftmax(5, 4, scale=4.0, learn_scale=True, dtype=np.float64)
    head.params["weight"][...] = W
    assert head.params["scale"].shape == () and head.no_decay == ("scale",)
    head.forward(x, y)
    dx = head.backward()
    analytic = {"x": dx, "weight": head.grads["weight"].copy(), "scale": head.grads["scale"].copy()}
    inputs = {"x": x, "weight": head.params["weight"], "scale": head.params["scale"]}
    assert_gradients_match(lambda: head.forward(x, y), inputs, analytic)
    assert float(head.grads["scale"]) == pytest.approx(n_softmax_loss(x, W, y, scale=4.0, learn_scale=True)[3])


def test_a_network_trains_the_scale_without_weight_decay_on_it():
    head = NSoftmax(6, 4, scale=2.0, learn_scale=True, dtype=np.float64, rng=0)
    net = assert_network_trains_with(head)
    assert "head.scale" in net.no_decay() and "head.scale" in net.params
    assert float(head.params["scale"]) > 2.0  # separable data: a larger scale sharpens the softmax
    # weight decay spares it: a zero gradient leaves the scale where it is
    opt = SGD(net, lr=0.1, momentum=0.0, weight_decay=0.5, no_decay=net.no_decay())
    for g in net.grads.values():
        g[...] = 0
    before = float(head.params["scale"])
    opt.step()
    assert float(head.params["scale"]) == before


@pytest.mark.parametrize("change, exc, message", BAD_ARRAYS, ids=BAD_ARRAY_IDS)
def test_bad_arrays_raise_naming_the_argument(change, exc, message):
    x, W, y = change(*make(np))
    with pytest.raises(exc, match=message):
        n_softmax_loss(x, W, y)


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        ({"scale": 0.0}, ValueError, r"scale must be > 0.0, got 0.0"),
        ({"scale": -16}, ValueError, r"scale must be > 0.0, got -16"),
        ({"scale": "big"}, TypeError, r"scale must be a real number"),
        ({"learn_scale": 1}, TypeError, r"learn_scale must be True or False, got 1"),
    ],
)
def test_a_bad_scale_is_refused_naming_it(kwargs, exc, message):
    x, W, y = make(np)
    with pytest.raises(exc, match=message):
        n_softmax_loss(x, W, y, **kwargs)
    with pytest.raises(exc, match=message):
        NSoftmax(5, 4, **kwargs)


@pytest.mark.gpu
@pytest.mark.parametrize("learn_scale", [False, True])
def test_head_on_the_gpu_copies_nothing_to_the_host(gpu_xp, learn_scale):
    assert_gpu_step_copies_nothing(gpu_xp, NSoftmax(5, 4, learn_scale=learn_scale, rng=0))


def test_a_learned_scale_checkpoint_is_refused_by_a_fixed_scale_head_naming_the_key():
    learned, fixed = NSoftmax(4, 3, learn_scale=True), NSoftmax(4, 3)
    with pytest.raises(KeyError, match=r"NSoftmax does not have: \['params.scale'\]"):
        fixed.load_state_dict(learned.state_dict())
    with pytest.raises(KeyError, match=r"state is missing 'params.scale'"):
        learned.load_state_dict(fixed.state_dict())
