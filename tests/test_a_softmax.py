"""A-Softmax [SphereFace 2017]: L-Softmax on the column-normalised classifier, with the
gradient through the normalisation; finite differences on both sides of every boundary of
psi, the softmax limits, invariance to the columns' norms, stability, and the head."""
import numpy as np
import pytest
from compared_heads import (
    BAD_ARRAY_IDS,
    BAD_ARRAYS,
    BAD_MARGINS,
    assert_feature_gradients,
    assert_gpu_step_copies_nothing,
    assert_head_contract,
    assert_head_matches_function,
    assert_margin_refused,
    assert_network_trains_with,
    at_angles,
    boundary_angles,
    make,
)
from scipy.special import log_softmax

from emsm_np.losses import SPHEREFACE_SCHEDULE, ASoftmax, a_softmax_loss, l_softmax_loss


def unit_columns(W):
    return W / np.linalg.norm(W, axis=0)


def softmax_ce(z, y):
    return -log_softmax(z, axis=1)[np.arange(len(y)), y].mean()


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_gradients_through_the_normalisation_match_finite_differences_on_both_sides_of_every_boundary(xp, m, beta):
    x, W, y = at_angles(xp, boundary_angles(m), seed=10 + m)
    W = W * xp.asarray(np.array([0.5, 1.0, 2.0, 3.0]))  # columns far from unit norm
    assert_feature_gradients(a_softmax_loss, x, W, y, margin=m, beta=beta)


@pytest.mark.parametrize("m, beta", [(1, 0.0), (2, 0.0), (4, 0.4)])
def test_a_softmax_is_l_softmax_on_unit_columns(m, beta):
    x, W, y = make(np, seed=1)
    loss, dx, _ = a_softmax_loss(x, W, y, margin=m, beta=beta)
    ref, ref_dx, _ = l_softmax_loss(x, unit_columns(W), y, margin=m, beta=beta)
    assert loss == pytest.approx(ref, abs=1e-12)
    np.testing.assert_allclose(dx, ref_dx, atol=1e-12)


@pytest.mark.parametrize("beta", [0.0, 2.0])
def test_margin_one_is_softmax_on_the_normalised_classifier(beta):
    x, W, y = make(np, seed=2)
    loss, dx, _ = a_softmax_loss(x, W, y, margin=1, beta=beta)
    W_hat = unit_columns(W)
    assert loss == pytest.approx(softmax_ce(x @ W_hat, y), abs=1e-12)
    p = np.exp(log_softmax(x @ W_hat, axis=1))
    p[np.arange(len(y)), y] -= 1
    np.testing.assert_allclose(dx, p @ W_hat.T / len(y), atol=1e-12)


def test_beta_to_infinity_gives_back_softmax_on_the_normalised_classifier():
    x, W, y = make(np, seed=3)
    loss, _, _ = a_softmax_loss(x, W, y, margin=4, beta=1e12)
    assert loss == pytest.approx(softmax_ce(x @ unit_columns(W), y), rel=1e-9)


def test_the_loss_ignores_the_columns_norms_and_its_weight_gradient_is_orthogonal_to_each_column():
    x, W, y = make(np, seed=4)
    loss, _, dW = a_softmax_loss(x, W, y, margin=4)
    scaled, _, _ = a_softmax_loss(x, W * np.array([0.1, 1.0, 7.0, 2.0]), y, margin=4)
    assert scaled == pytest.approx(loss, abs=1e-12)
    np.testing.assert_allclose((W * dW).sum(axis=0), 0, atol=1e-12)  # no radial part


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_feature_zero_column_and_theta_0_or_pi_give_finite_loss_and_gradients(dtype):
    x, W, y = at_angles(np, np.array([0.0, np.pi, 1.0, 2.0]), seed=5)
    x[2] = 0.0
    W[:, y[3]] = 0.0
    x, W = x.astype(dtype), W.astype(dtype)
    for m in (1, 2, 3, 4):
        loss, dx, dW = a_softmax_loss(x, W, y, margin=m)
        assert np.isfinite(loss) and np.isfinite(dx).all() and np.isfinite(dW).all()
        assert dx.dtype == dtype and dW.dtype == dtype
        assert np.abs(dx).max() < 1e3  # bounded in x: no 1/||x||


# ---------------------------------------------------------------- the head


@pytest.mark.parametrize("margin, beta", [(4, 0.0), (2, 0.3)])
def test_head_matches_the_function_and_keeps_the_em_softmax_head_interface(margin, beta):
    x, W, y = make(np)
    head = ASoftmax(5, 4, margin=margin, beta=beta, dtype=np.float64)
    assert_head_matches_function(head, a_softmax_loss, x, W, y, margin=margin, beta=beta)
    np.testing.assert_allclose(head.logits(x), x @ unit_columns(W), rtol=1e-12)  # ||x|| cos(theta_j)
    assert_head_contract(head, x, y)


def test_head_defaults_to_sphereface_margin_4():
    assert ASoftmax(5, 4).margin == 4


def test_a_network_trains_with_the_a_softmax_head():
    net = assert_network_trains_with(ASoftmax(6, 4, beta=SPHEREFACE_SCHEDULE, dtype=np.float64, rng=0))
    assert net.head.current_beta >= 5.0  # SphereFace's floor


@pytest.mark.parametrize("change, exc, message", BAD_ARRAYS, ids=BAD_ARRAY_IDS)
def test_bad_arrays_raise_naming_the_argument(change, exc, message):
    x, W, y = change(*make(np))
    with pytest.raises(exc, match=message):
        a_softmax_loss(x, W, y)


@pytest.mark.parametrize("margin, exc, message", BAD_MARGINS)
def test_a_margin_that_is_not_a_positive_integer_is_refused(margin, exc, message):
    assert_margin_refused(a_softmax_loss, ASoftmax, margin, exc, message)


def test_a_negative_beta_is_refused():
    x, W, y = make(np)
    with pytest.raises(ValueError, match=r"beta must be >= 0.0, got -1.0"):
        a_softmax_loss(x, W, y, beta=-1.0)


@pytest.mark.gpu
def test_head_on_the_gpu_copies_nothing_to_the_host(gpu_xp):
    assert_gpu_step_copies_nothing(gpu_xp, ASoftmax(5, 4, beta=0.2, rng=0))
