"""HingeLoss [Tang 2013]: the one-vs-rest hinge of Caffe's HingeLoss layer, its gradients
against finite differences (away from the kink of max), and its head."""
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

from emsm_np.backend import asnumpy
from emsm_np.functional.hinge import hinge_backward, hinge_forward
from emsm_np.gradcheck import KINK, SMOOTH
from emsm_np.losses import HingeLoss, hinge_loss


def loop_hinge(x, W, y, p):
    """The loss written literally: (1/n) sum_i sum_k max(0, 1 - t_ik x_i . w_k)^p."""
    n, K = x.shape[0], W.shape[1]
    total = 0.0
    for i in range(n):
        for k in range(K):
            t = 1.0 if k == y[i] else -1.0
            total += max(0.0, 1.0 - t * float(x[i] @ W[:, k])) ** p
    return total / n


def away_from_the_kink(xp, seed, n=8, d=5, K=4, gap=1e-3):
    """Inputs with every |1 - t z| at least ``gap``, and both active and inactive hinges."""
    x, W, y = make(xp, n, d, K, seed)
    z, yn = asnumpy(x @ W), asnumpy(y)
    t = -np.ones_like(z)
    t[np.arange(n), yn] = 1
    assert np.abs(1 - t * z).min() > gap, "pick another seed: an input sits on the kink"
    assert (1 - t * z > 0).any() and (1 - t * z < 0).any()
    return x, W, y


@pytest.mark.parametrize("norm, p", [("l1", 1), ("l2", 2)])
def test_loss_is_the_mean_over_samples_of_the_summed_one_vs_rest_hinges(norm, p):
    x, W, y = make(np, seed=3)
    loss, _, _ = hinge_loss(x, W, y, norm=norm)
    assert abs(loss - loop_hinge(x, W, y, p)) < 1e-12


@pytest.mark.parametrize("norm", ["l1", "l2"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hinge_gradients_match_finite_differences_away_from_the_kink(xp, norm, seed):
    x, W, y = away_from_the_kink(xp, seed)
    # L1: max(0, .) has a kink at every hinge's corner (inputs kept 1e-3 from it);
    # L2: max(0, .)^2 is differentiable there.
    assert_feature_gradients(hinge_loss, x, W, y, bound=KINK if norm == "l1" else SMOOTH, norm=norm)


def test_l1_gradient_is_minus_t_over_n_where_active_and_zero_on_the_kink_as_caffes_sign():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    W = np.array([[1.0, 0.5], [-1.0, 3.0]])  # z = [[1, 0.5], [-1, 3]]
    y = np.array([0, 1])
    _, cache = hinge_forward(x, W, y, "l1")
    dz = -cache.t * (cache.h > 0) / 2
    # sample 0: the target hinge sits on the kink (t z = 1): gradient 0; class 1 active
    assert cache.h[0, 0] == 0.0 and dz[0, 0] == 0.0 and dz[0, 1] == 0.5
    dx, dW = hinge_backward(1.0, cache)
    np.testing.assert_allclose(dx, dz @ W.T)
    np.testing.assert_allclose(dW, x.T @ dz)


def test_l2_gradient_is_minus_two_t_h_over_n():
    x, W, y = make(np, seed=4)
    _, cache = hinge_forward(x, W, y, "l2")
    dx, dW = hinge_backward(1.0, cache)
    dz = -2 * cache.t * cache.h / x.shape[0]
    np.testing.assert_allclose(dW, x.T @ dz, rtol=1e-12)
    np.testing.assert_allclose(dx, dz @ W.T, rtol=1e-12)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_backward_scales_the_gradients_by_dloss(norm):
    x, W, y = make(np, seed=5)
    _, cache = hinge_forward(x, W, y, norm)
    dx1, dW1 = hinge_backward(1.0, cache)
    dx3, dW3 = hinge_backward(-3.0, cache)
    np.testing.assert_allclose(dx3, -3 * dx1, rtol=1e-12)
    np.testing.assert_allclose(dW3, -3 * dW1, rtol=1e-12)


def test_a_classifier_with_every_margin_met_has_zero_loss_and_gradient():
    x = np.eye(3)
    W = 2 * (2 * np.eye(3) - 1)  # target logit 2, others -2: every t z = 2 > 1
    loss, dx, dW = hinge_loss(x, W, np.arange(3), norm="l1")
    assert loss == 0.0 and not dx.any() and not dW.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_logits_give_finite_loss_and_gradients_in_the_input_dtype(dtype):
    x = np.array([[1e3, -1e3]], dtype=dtype)
    W = np.array([[1e3, -1e3], [1e3, 1e3]], dtype=dtype)
    loss, dx, dW = hinge_loss(x, W, np.array([1]))
    assert np.isfinite(loss) and np.isfinite(dx).all() and np.isfinite(dW).all()
    assert dx.dtype == dtype and dW.dtype == dtype


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("change, exc, message", BAD_ARRAYS, ids=BAD_ARRAY_IDS)
def test_bad_arrays_raise_naming_the_argument(change, exc, message):
    x, W, y = change(*make(np))
    with pytest.raises(exc, match=message):
        hinge_loss(x, W, y)


def test_a_misspelt_norm_is_refused_listing_the_two():
    x, W, y = make(np)
    with pytest.raises(ValueError, match=r"norm must be one of 'l1', 'l2'; got 'L2'"):
        hinge_loss(x, W, y, norm="L2")
    with pytest.raises(ValueError, match=r"norm must be one of"):
        HingeLoss(5, 4, norm="squared")


# ---------------------------------------------------------------- the head


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_head_matches_the_function_and_keeps_the_em_softmax_head_interface(norm):
    x, W, y = make(np)
    head = HingeLoss(5, 4, norm=norm, dtype=np.float64)
    assert_head_matches_function(head, hinge_loss, x, W, y, norm=norm)
    assert float(head.terms["hinge"]) == pytest.approx(hinge_loss(x, W, y, norm=norm)[0])
    np.testing.assert_allclose(head.logits(x), x @ W)
    assert_head_contract(head, x, y)


def test_head_is_float32_by_default_and_initialised_as_the_em_softmax_head():
    W = HingeLoss(8, 10, rng=0).params["weight"]
    assert W.dtype == np.float32 and W.shape == (8, 10) and np.abs(W).max() <= 1 / np.sqrt(8)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_a_network_trains_with_the_hinge_head(norm):
    assert_network_trains_with(HingeLoss(6, 4, norm=norm, dtype=np.float64, rng=0))


def test_the_function_and_the_head_default_to_l1_as_the_command_line_does():
    from emsm_np.training import TrainConfig

    x, W, y = make(np)
    assert TrainConfig(loss="hinge").resolved().hinge_norm == "l1" == HingeLoss(5, 4).norm
    loss, dx, dW = hinge_loss(x, W, y)
    loss1, dx1, dW1 = hinge_loss(x, W, y, norm="l1")
    assert loss == loss1 and np.array_equal(dx, dx1) and np.array_equal(dW, dW1)


@pytest.mark.gpu
def test_head_on_the_gpu_copies_nothing_to_the_host(gpu_xp):
    assert_gpu_step_copies_nothing(gpu_xp, HingeLoss(5, 4, rng=0))
