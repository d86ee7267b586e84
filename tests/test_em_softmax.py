"""The EM-Softmax head: every gradient formula of the paper against finite differences.

Named after the paper's equations: Eq. 4 (the M-Softmax loss L_M), Eq. 6 (the HSIC
diversity sum), Eq. 8 (the EM-Softmax loss L_EM), Eq. 9 (its gradients w.r.t. W_v, whose
diversity part lam W_v K_v is also the unnumbered gradient after Eq. 7, and w.r.t. x).
"""
import itertools

import numpy as np
import pytest
from conftest import no_device_to_host_transfer
from scipy.special import log_softmax

from emsm_np.backend import asnumpy
from emsm_np.functional.hsic import (
    hsic_diversity_backward,
    hsic_diversity_forward,
    paper_hsic_gradient,
)
from emsm_np.functional.margin_cross_entropy import (
    margin_cross_entropy_backward,
    margin_cross_entropy_forward,
)
from emsm_np.functional.normalize import EPS, normalize_backward, normalize_forward
from emsm_np.gradcheck import assert_gradients, assert_gradients_match
from emsm_np.losses import EMSoftmax, diversity, em_softmax_loss, ensemble_logits, weak_logits
from emsm_np.losses.em_softmax import em_softmax_backward, em_softmax_forward

NORMALIZE = ["column", "frobenius", "none", "centered"]


def make(xp, n=6, d=5, K=4, V=2, seed=0):
    rng = np.random.default_rng(seed)
    x = xp.asarray(rng.standard_normal((n, d)))
    W = xp.asarray(rng.standard_normal((V, d, K)))
    y = xp.asarray(rng.integers(0, K, n))
    return x, W, y


def loop_diversity(W_hat):
    """Eq. 6 written literally: sum over ordered pairs u != v of tr(W_v H W_u^T W_u H W_v^T)."""
    V, d, K = W_hat.shape
    H = np.eye(K) - np.ones((K, K)) / K
    total = 0.0
    for v in range(V):
        for u in range(V):
            if u != v:
                total += np.trace(W_hat[v] @ H @ W_hat[u].T @ W_hat[u] @ H @ W_hat[v].T)
    return total


def softmax_ce_rows(z, y):
    """Per-row cross-entropy logsumexp(z_i) - z_i[y_i], the log-sum-exp written out (max shifted)."""
    rows = np.arange(len(y))
    zmax = z.max(axis=1, keepdims=True)
    lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    return lse - z[rows, y]


def shifted_softmax(z, y, m):
    """p~ = softmax(z - m onehot(y)): the probabilities of Eq. 4, computed here from scratch."""
    zt = z.copy()
    zt[np.arange(len(y)), y] -= m
    e = np.exp(zt - zt.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def reference_em_softmax_loss(x, W, y, margin, lam):
    """Eq. 8 built from the formulas in float64: sum over v of the mean CE of z_v = x W_v with
    the margin subtracted from the target logit (Eq. 4), plus lam * D (Eq. 6, the trace over
    ordered pairs) on the classifiers with every class column scaled to unit length."""
    V, d, K = W.shape
    onehot = np.eye(K)[y]
    ce = sum(softmax_ce_rows(x @ W[v] - margin * onehot, y).mean() for v in range(V))
    W_hat = np.stack([W[v] / np.sqrt((W[v] ** 2).sum(axis=0)) for v in range(V)])
    return ce + lam * loop_diversity(W_hat)


# ---------------------------------------------------------------- Eq. 4


@pytest.mark.parametrize("margin", [0.0, 0.7])
def test_eq4_margin_softmax_logit_gradient_matches_finite_differences(xp, margin):
    rng = np.random.default_rng(1)
    z = xp.asarray(rng.standard_normal((7, 5)))
    y = xp.asarray(rng.integers(0, 5, 7))
    assert_gradients(lambda: margin_cross_entropy_forward(z, y, margin), margin_cross_entropy_backward, {"z": z})


def test_eq4_margin_is_subtracted_from_the_target_logit_only():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    m = 0.9
    zt = z.copy()
    zt[np.arange(4), y] -= m
    expected = -log_softmax(zt, axis=1)[np.arange(4), y].mean()
    loss, _ = margin_cross_entropy_forward(z, y, m)
    assert abs(float(loss) - expected) < 1e-12
    # the margin makes the loss strictly larger: the target must win by m
    assert float(loss) > float(margin_cross_entropy_forward(z, y, 0.0)[0])


@pytest.mark.parametrize("margin", [0.0, 0.7])
def test_eq4_m_softmax_feature_gradient_matches_finite_differences(xp, margin):
    x, W, y = make(xp, V=1)
    loss, dx, dW = em_softmax_loss(x, W, y, margin=margin)
    assert_gradients_match(lambda: em_softmax_loss(x, W, y, margin=margin)[0], {"x": x, "W": W}, {"x": dx, "W": dW})


def test_plain_softmax_is_v1_m0_lam0():
    x, W, y = make(np, V=1, K=6)
    loss, dx, dW = em_softmax_loss(x, W, y)
    z = x @ W[0]
    expected = -log_softmax(z, axis=1)[np.arange(len(y)), y].mean()
    assert abs(loss - expected) < 1e-12
    p = np.exp(log_softmax(z, axis=1))
    p[np.arange(len(y)), y] -= 1  # the textbook p - onehot(y)
    np.testing.assert_allclose(dx, p @ W[0].T / len(y), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dW[0], x.T @ p / len(y), rtol=1e-12, atol=1e-14)


def test_em_softmax_forward_defaults_to_the_plain_softmax_loss_of_each_classifier_summed():
    x, W, y = make(np, V=2, K=6)
    loss, _, _ = em_softmax_forward(x, W, y)  # m = 0, lambda = 0
    expected = sum(-log_softmax(x @ W[v], axis=1)[np.arange(len(y)), y].mean() for v in range(2))
    assert abs(float(loss) - expected) < 1e-12
    # and with the diversity term on, column normalisation and the exact gradient are the defaults
    loss, terms, _ = em_softmax_forward(x, W, y, lam=0.1)
    loss_c, terms_c, _ = em_softmax_forward(x, W, y, lam=0.1, normalize="column", hsic_gradient="exact")
    assert float(loss) == float(loss_c) and float(terms["diversity"]) == float(terms_c["diversity"])


@pytest.mark.parametrize("call, message", [
    (lambda x, W: weak_logits(x, W[0]), "W must be 3-D"),
    (lambda x, W: ensemble_logits(x, W[0]), "W must be 3-D"),
    (lambda x, W: diversity(W[0]), "W must be 3-D"),
    (lambda x, W: diversity(W.tolist()), "W must be a NumPy or CuPy array, got list"),
    (lambda x, W: weak_logits(x[0], W), "^x must be 2-D"),
    (lambda x, W: ensemble_logits(x.tolist(), W), "^x must be a NumPy or CuPy array, got list"),
])
def test_logits_and_diversity_refuse_bad_arguments_naming_them(call, message):
    x, W, _ = make(np)
    with pytest.raises((TypeError, ValueError), match=message):
        call(x, W)


MARGINS = [0.1, 0.5, 2.0]


@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("seed", range(4))
def test_eq4_a_positive_margin_makes_the_m_softmax_loss_larger_than_the_softmax_loss(seed, margin):
    # The target must win by m: on the same (x, W, y) the loss goes up, for one
    # classifier (M-Softmax vs Softmax) and for the ensemble (EM- vs E-Softmax).
    for V, lam in [(1, 0.0), (3, 0.1)]:
        x, W, y = make(np, V=V, seed=seed)
        softmax = em_softmax_loss(x, W, y, margin=0.0, lam=lam)[0]
        m_softmax = em_softmax_loss(x, W, y, margin=margin, lam=lam)[0]
        assert m_softmax > softmax, (V, m_softmax, softmax)


@pytest.mark.parametrize("margin", MARGINS)
def test_eq4_the_margin_lowers_the_softmax_probability_of_the_target_in_every_row(xp, margin):
    rng = np.random.default_rng(3)
    z = xp.asarray(rng.standard_normal((9, 5)))
    y = xp.asarray(rng.integers(0, 5, 9))
    rows = np.arange(9)
    plain = asnumpy(margin_cross_entropy_forward(z, y, 0.0)[1].prob)
    shifted = asnumpy(margin_cross_entropy_forward(z, y, margin)[1].prob)
    y = asnumpy(y)
    assert (shifted[rows, y] < plain[rows, y]).all()
    others = np.ones_like(plain, dtype=bool)
    others[rows, y] = False
    assert (shifted[others] > plain[others]).all()  # the mass lost by the target goes to the others


@pytest.mark.parametrize("seed", range(3))
def test_eq4_with_zero_margin_the_loss_is_plain_softmax_cross_entropy(seed):
    rng = np.random.default_rng(seed)
    z = 3 * rng.standard_normal((8, 6))
    y = rng.integers(0, 6, 8)
    loss, _ = margin_cross_entropy_forward(z, y, 0.0)
    np.testing.assert_allclose(float(loss), softmax_ce_rows(z, y).mean(), rtol=1e-13)
    # and through the head, V = 1: z = x W
    x, W, y = make(np, V=1, K=6, seed=seed)
    np.testing.assert_allclose(em_softmax_loss(x, W, y)[0], softmax_ce_rows(x @ W[0], y).mean(), rtol=1e-13)


@pytest.mark.parametrize("margin", [0.0] + MARGINS)
def test_eq4_loss_equals_cross_entropy_of_the_margin_shifted_logits(margin):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((8, 6))
    y = rng.integers(0, 6, 8)
    zt = z - margin * np.eye(6)[y]
    loss, _ = margin_cross_entropy_forward(z, y, margin)
    np.testing.assert_allclose(float(loss), softmax_ce_rows(zt, y).mean(), rtol=1e-13)


@pytest.mark.parametrize("margin", [0.0] + MARGINS)
def test_eq4_logit_gradient_is_the_margin_shifted_softmax_minus_one_at_the_target(xp, margin):
    rng = np.random.default_rng(5)
    z = rng.standard_normal((7, 4))
    y = rng.integers(0, 4, 7)
    rows = np.arange(7)
    _, cache = margin_cross_entropy_forward(xp.asarray(z), xp.asarray(y), margin)
    dz = asnumpy(margin_cross_entropy_backward(1.0, cache))
    p = shifted_softmax(z, y, margin)
    np.testing.assert_allclose(dz[rows, y], (p[rows, y] - 1) / 7, rtol=1e-12, atol=1e-15)
    others = np.ones_like(p, dtype=bool)
    others[rows, y] = False
    np.testing.assert_allclose(dz[others], p[others] / 7, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- upstream gradient


DLOSS = [2.5, -0.75]


@pytest.mark.parametrize("dloss", DLOSS)
@pytest.mark.parametrize("margin", [0.0, 0.6])
def test_margin_cross_entropy_backward_scales_the_logit_gradient_by_dloss(xp, dloss, margin):
    rng = np.random.default_rng(6)
    z = xp.asarray(rng.standard_normal((5, 4)))
    y = xp.asarray(rng.integers(0, 4, 5))
    _, cache = margin_cross_entropy_forward(z, y, margin)
    unit = asnumpy(margin_cross_entropy_backward(1.0, cache))
    scaled = asnumpy(margin_cross_entropy_backward(dloss, cache))
    np.testing.assert_allclose(scaled, dloss * unit, rtol=1e-13, atol=0)


@pytest.mark.parametrize("dloss", DLOSS)
@pytest.mark.parametrize("V,margin,lam", [(1, 0.5, 0.0), (3, 0.0, 0.3), (3, 0.5, 0.3)])
@pytest.mark.parametrize("normalize", NORMALIZE)
def test_em_softmax_backward_scales_dx_and_dw_by_dloss(xp, dloss, V, margin, lam, normalize):
    # Both parts of dW (cross-entropy, and the HSIC term through the normalisation)
    # and dx are linear in the upstream gradient.
    x, W, y = make(xp, V=V)
    _, _, cache = em_softmax_forward(x, W, y, margin, lam, normalize)
    dx1, dW1 = (asnumpy(a) for a in em_softmax_backward(1.0, cache))
    dx, dW = (asnumpy(a) for a in em_softmax_backward(dloss, cache))
    np.testing.assert_allclose(dx, dloss * dx1, rtol=1e-12, atol=0)
    np.testing.assert_allclose(dW, dloss * dW1, rtol=1e-12, atol=0)
    if lam > 0:  # the HSIC part alone scales too: dW minus the lam = 0 gradient
        _, _, cache0 = em_softmax_forward(x, W, y, margin, 0.0, normalize)
        hsic1 = dW1 - asnumpy(em_softmax_backward(1.0, cache0)[1])
        hsic = dW - asnumpy(em_softmax_backward(dloss, cache0)[1])
        assert np.abs(hsic1).max() > 1e-3
        np.testing.assert_allclose(hsic, dloss * hsic1, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dloss", DLOSS)
def test_em_softmax_backward_with_dloss_matches_finite_differences_of_dloss_times_the_loss(dloss):
    x, W, y = make(np, V=2)
    _, _, cache = em_softmax_forward(x, W, y, 0.4, 0.2, "column")
    dx, dW = em_softmax_backward(dloss, cache)
    f = lambda: dloss * em_softmax_loss(x, W, y, margin=0.4, lam=0.2)[0]  # noqa: E731
    assert_gradients_match(f, {"x": x, "W": W}, {"x": dx, "W": dW})


@pytest.mark.parametrize("dloss", DLOSS)
def test_head_backward_scales_dx_and_the_weight_gradient_by_dloss(dloss):
    x, W, y = make(np, V=3)
    head = EMSoftmax(5, 4, ensemble=3, margin=0.3, lam=0.2, dtype=np.float64)
    head.params["weight"][...] = W
    head.forward(x, y)
    dx1 = head.backward()
    dW1 = head.grads["weight"].copy()
    head.forward(x, y)
    dx = head.backward(dloss)
    np.testing.assert_allclose(dx, dloss * dx1, rtol=1e-12, atol=0)
    np.testing.assert_allclose(head.grads["weight"], dloss * dW1, rtol=1e-12, atol=0)


# ---------------------------------------------------------------- Eq. 6 and the diversity part of Eq. 9


@pytest.mark.parametrize("V", [1, 2, 3])
def test_eq6_diversity_equals_the_trace_formula_over_ordered_pairs(V):
    _, W, _ = make(np, V=V, d=4, K=5)
    D, _ = hsic_diversity_forward(W)
    assert abs(float(D) - loop_diversity(W)) < 1e-10 * max(1.0, abs(loop_diversity(W)))
    if V == 1:
        assert float(D) == 0.0


def test_eq6_diversity_is_nonnegative_zero_for_a_class_blind_classifier_and_largest_for_copies():
    rng = np.random.default_rng(0)
    # <H K_v H, H K_u H> is an inner product of PSD matrices: never negative.
    for seed in range(5):
        W = np.random.default_rng(seed).standard_normal((3, 4, 5))
        assert float(hsic_diversity_forward(W)[0]) >= 0.0
    # A classifier whose columns are all equal scores every class the same: after
    # centring (W H) it is zero and shares no dependence with anything.
    W = rng.standard_normal((2, 4, 3))
    W[1] = W[1][:, :1]
    assert abs(float(hsic_diversity_forward(W)[0])) < 1e-12
    # Two copies of one classifier are as dependent as two classifiers of that norm can be
    # (Cauchy-Schwarz): D = 2 ||H K H||^2 >= D of any other pair with the same ||H K H||.
    W0 = rng.standard_normal((4, 3))
    copies = float(hsic_diversity_forward(np.stack([W0, W0]))[0])
    G0 = (W0 - W0.mean(1, keepdims=True)).T @ (W0 - W0.mean(1, keepdims=True))
    assert abs(copies - 2 * (G0 * G0).sum()) < 1e-10
    other = rng.standard_normal((4, 3))
    G1 = (other - other.mean(1, keepdims=True)).T @ (other - other.mean(1, keepdims=True))
    other *= np.sqrt(np.linalg.norm(G0) / np.linalg.norm(G1))  # same ||H K H||_F
    assert float(hsic_diversity_forward(np.stack([W0, other]))[0]) <= copies + 1e-10


@pytest.mark.parametrize("V", [2, 3])
def test_eq9_hsic_gradient_wrt_normalized_classifiers_matches_finite_differences(xp, V):
    _, W, _ = make(xp, V=V)
    assert_gradients(lambda: hsic_diversity_forward(W), hsic_diversity_backward, {"W": W})


@pytest.mark.parametrize("normalize", NORMALIZE)
@pytest.mark.parametrize("V", [2, 3])
def test_eq9_hsic_gradient_wrt_each_wv_under_each_normalization(xp, normalize, V):
    _, W, _ = make(xp, V=V)

    def f():
        W_hat, _ = normalize_forward(W, normalize)
        return hsic_diversity_forward(W_hat)[0]

    W_hat, ncache = normalize_forward(W, normalize)
    _, hcache = hsic_diversity_forward(W_hat)
    dW = normalize_backward(hsic_diversity_backward(1.0, hcache), ncache)
    assert_gradients_match(f, {"W": W}, {"W": dW})


@pytest.mark.parametrize("normalize", ["column", "frobenius", "centered"])
def test_normalization_gradient_matches_finite_differences(xp, normalize):
    _, W, _ = make(xp, V=2)
    g = xp.asarray(np.random.default_rng(5).standard_normal(W.shape))
    assert_gradients(lambda: normalize_forward(W, normalize), normalize_backward, {"W": W}, dout=g)


def test_normalization_gives_unit_columns_and_unit_frobenius_norm():
    _, W, _ = make(np, V=3)
    col, _ = normalize_forward(W, "column")
    np.testing.assert_allclose(np.linalg.norm(col, axis=1), 1.0, rtol=1e-12)
    fro, _ = normalize_forward(W, "frobenius")
    np.testing.assert_allclose(np.linalg.norm(fro, axis=(1, 2)), 1.0, rtol=1e-12)
    none, _ = normalize_forward(W, "none")
    assert none is W


def zero_norm_case(mode, seed=8):
    """W (2, 5, 4) with one classifier part whose norm (in ``mode``) is exactly zero, and a mask of it.

    column: one all-zero class column; frobenius: one all-zero classifier;
    centered: a classifier whose class columns are all equal (W H = 0, exactly:
    the values are multiples of 1/4), the shift that "centered" removes.
    """
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((2, 5, 4))
    zero = np.zeros(W.shape, dtype=bool)
    if mode in ("column", "none"):
        zero[0, :, 1] = True
        W[zero] = 0.0
    elif mode == "frobenius":
        zero[1] = True
        W[1] = 0.0
    else:  # centered
        zero[1] = True
        W[1] = rng.integers(-8, 8, (5, 1)) / 4
    return W, zero


@pytest.mark.parametrize("mode", NORMALIZE)
def test_normalize_maps_a_zero_norm_part_to_zero_with_gradient_g_over_eps(xp, mode):
    # The documented clamp r = max(||w||, eps): a zero-norm column (or classifier)
    # maps to 0, and its gradient is g / eps (g H / eps for "centered", back through
    # the centring; g itself for "none", the identity). The other parts keep the
    # tangent projection (g - w^ (w^ . g)) / ||w||.
    W, zero = zero_norm_case(mode)
    g = np.random.default_rng(9).standard_normal(W.shape)
    W_hat, cache = normalize_forward(xp.asarray(W), mode)
    dW = asnumpy(normalize_backward(xp.asarray(g), cache))
    W_hat = asnumpy(W_hat)
    assert np.isfinite(W_hat).all() and np.isfinite(dW).all()
    if mode == "none":
        np.testing.assert_array_equal(W_hat, W)
        np.testing.assert_array_equal(dW, g)
        return
    np.testing.assert_array_equal(W_hat[zero], 0.0)

    def tangent(w, gw):
        """(g - w^ (w^ . g)) / ||w||: the gradient through w / ||w|| where ||w|| > eps."""
        r = np.linalg.norm(w)
        return (gw - w / r * (w / r * gw).sum()) / r

    def centre(a):  # a H: each row minus its mean over the classes
        return a - a.mean(axis=-1, keepdims=True)

    if mode == "column":
        zero_grad, expected_zero = dW[0, :, 1], g[0, :, 1] / EPS
        other_grad, expected_other = dW[0, :, 2], tangent(W[0, :, 2], g[0, :, 2])
    elif mode == "frobenius":
        zero_grad, expected_zero = dW[1], g[1] / EPS
        other_grad, expected_other = dW[0], tangent(W[0], g[0])
    else:
        zero_grad, expected_zero = dW[1], centre(g[1]) / EPS
        other_grad, expected_other = dW[0], centre(tangent(centre(W[0]), g[0]))
    np.testing.assert_allclose(zero_grad, expected_zero, rtol=1e-12, atol=0)
    np.testing.assert_allclose(other_grad, expected_other, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["column", "frobenius", "centered"])
def test_normalize_below_eps_scales_by_one_over_eps_forward_and_backward(mode):
    # Any norm at or below eps is clamped, not only zero: w^ = w / eps, dL/dw = g / eps
    # (w H / eps and g H / eps for "centered").
    eps = 1e-3
    rng = np.random.default_rng(10)
    W = rng.standard_normal((2, 5, 4))
    small = np.zeros(W.shape, dtype=bool)
    if mode == "column":
        small[1, :, 3] = True
    else:
        small[1] = True
    W[small] *= 1e-5 / np.linalg.norm(W[small])  # norm 1e-5 < eps (after centring, smaller still)
    g = rng.standard_normal(W.shape)
    W_hat, cache = normalize_forward(W, mode, eps=eps)
    dW = normalize_backward(g, cache)
    if mode == "centered":
        np.testing.assert_allclose(W_hat[1], (W[1] - W[1].mean(axis=1, keepdims=True)) / eps, rtol=1e-12)
        np.testing.assert_allclose(dW[1], (g[1] - g[1].mean(axis=1, keepdims=True)) / eps, rtol=1e-12)
    else:
        np.testing.assert_allclose(W_hat[small], W[small] / eps, rtol=1e-12)
        np.testing.assert_allclose(dW[small], g[small] / eps, rtol=1e-12)


def test_a_common_shift_of_the_class_columns_lowers_d_except_under_centered_normalization():
    """W_v + c 1^T leaves softmax unchanged; only "centered" keeps D unchanged too."""
    x, W, y = make(np, V=2, K=5)
    c = 10 * np.random.default_rng(7).standard_normal((2, 5, 1))
    shifted = W + c
    assert abs(em_softmax_loss(x, shifted, y)[0] - em_softmax_loss(x, W, y)[0]) < 1e-9  # same CE
    for mode in ("column", "frobenius"):
        assert diversity(shifted, mode) < 0.05 * diversity(W, mode)
    assert abs(diversity(shifted, "centered") - diversity(W, "centered")) < 1e-9 * diversity(W, "centered")
    assert abs(diversity(3.0 * W, "centered") - diversity(W, "centered")) < 1e-9 * diversity(W, "centered")


def test_paper_gradient_is_the_exact_one_divided_by_4_before_the_normalization_jacobian():
    _, W, _ = make(np, V=3)
    # Without normalisation the paper's lam W_v K_v is the exact gradient up to the factor 4.
    _, hcache = hsic_diversity_forward(W)
    np.testing.assert_allclose(hsic_diversity_backward(1.0, hcache), 4 * paper_hsic_gradient(W), rtol=1e-12)
    # With column normalisation the exact gradient is J^T (4 W^_v K_v): a different direction.
    W_hat, ncache = normalize_forward(W, "column")
    _, hcache = hsic_diversity_forward(W_hat)
    exact = normalize_backward(hsic_diversity_backward(1.0, hcache), ncache)
    paper = paper_hsic_gradient(W_hat)
    np.testing.assert_allclose(exact, normalize_backward(4 * paper, ncache), rtol=1e-12)
    cos = (exact * paper).sum() / np.linalg.norm(exact) / np.linalg.norm(paper)
    assert cos < 0.999  # the Jacobian really changes the direction


# ---------------------------------------------------------------- Eqs. 8-9


CASES = list(itertools.product([1, 2, 3], [0.0, 0.5], [0.0, 0.1]))


@pytest.mark.parametrize("V,margin,lam", CASES)
@pytest.mark.parametrize("normalize", NORMALIZE)
def test_eq9_weight_gradient_matches_finite_differences(V, margin, lam, normalize):
    x, W, y = make(np, V=V)
    _, _, dW = em_softmax_loss(x, W, y, margin=margin, lam=lam, normalize=normalize)
    f = lambda: em_softmax_loss(x, W, y, margin=margin, lam=lam, normalize=normalize)[0]  # noqa: E731
    assert_gradients_match(f, {"W": W}, {"W": dW})


@pytest.mark.parametrize("V,margin,lam", CASES)
def test_eq9_feature_gradient_matches_finite_differences(V, margin, lam):
    x, W, y = make(np, V=V)
    _, dx, _ = em_softmax_loss(x, W, y, margin=margin, lam=lam)
    assert_gradients_match(lambda: em_softmax_loss(x, W, y, margin=margin, lam=lam)[0], {"x": x}, {"x": dx})


@pytest.mark.parametrize("V,margin,lam", [(2, 0.5, 0.1), (3, 0.0, 0.2)])
def test_eq9_gradients_on_gpu_match_finite_differences(xp, V, margin, lam):
    x, W, y = make(xp, V=V)
    _, dx, dW = em_softmax_loss(x, W, y, margin=margin, lam=lam)
    f = lambda: em_softmax_loss(x, W, y, margin=margin, lam=lam)[0]  # noqa: E731
    assert_gradients_match(f, {"x": x, "W": W}, {"x": dx, "W": dW})


def test_eq8_loss_is_sum_of_weak_cross_entropies_plus_lambda_diversity():
    x, W, y = make(np, V=3)
    m, lam = 0.3, 0.05
    loss, _, _ = em_softmax_loss(x, W, y, margin=m, lam=lam)
    ce = sum(float(margin_cross_entropy_forward(x @ W[v], y, m)[0]) for v in range(3))
    W_hat, _ = normalize_forward(W, "column")
    assert abs(loss - (ce + lam * loop_diversity(W_hat))) < 1e-10


def test_loss_and_gradients_match_a_float64_reference_from_the_formulas_and_gpu_equals_cpu(xp):
    # The reference is built in this file (reference_em_softmax_loss) and its
    # gradients by central differences of it: nothing of emsm_np's forward or
    # backward is shared. On the GPU the result must also equal the CPU's.
    x, W, y = make(np, V=3)
    margin, lam = 0.4, 0.1
    ref_loss = reference_em_softmax_loss(x, W, y, margin, lam)
    got = em_softmax_loss(xp.asarray(x), xp.asarray(W), xp.asarray(y), margin=margin, lam=lam)
    assert abs(got[0] - ref_loss) < 1e-12 * abs(ref_loss)
    # emsm_np's gradients against central differences of the reference loss
    assert_gradients_match(lambda: reference_em_softmax_loss(x, W, y, margin, lam), {"x": x, "W": W},
                           {"x": asnumpy(got[1]), "W": asnumpy(got[2])})
    if xp is not np:
        cpu = em_softmax_loss(x, W, y, margin=margin, lam=lam)
        assert abs(got[0] - cpu[0]) < 1e-10
        np.testing.assert_allclose(asnumpy(got[1]), cpu[1], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(asnumpy(got[2]), cpu[2], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- test time


def test_averaged_classifier_predictions():
    x, W, y = make(np, n=50, V=3, K=7)
    head = EMSoftmax(5, 7, ensemble=3, dtype=np.float64)
    head.params["weight"][...] = W
    W_bar = sum(W[v] for v in range(3)) / 3
    expected = np.array([np.argmax(x[i] @ W_bar) for i in range(50)])
    np.testing.assert_array_equal(head.predict(x), expected)
    # averaging the classifiers = averaging the logits (linearity)
    np.testing.assert_allclose(head.logits(x), head.weak_logits(x).mean(axis=0), rtol=1e-12)
    assert head.weak_logits(x).shape == (3, 50, 7)
    np.testing.assert_allclose(weak_logits(x, W)[1], x @ W[1], rtol=1e-12)
    np.testing.assert_allclose(ensemble_logits(x, W), x @ W_bar, rtol=1e-12)


def test_head_layer_matches_the_function_and_params_alias_the_weight():
    x, W, y = make(np, V=2)
    head = EMSoftmax(5, 4, ensemble=2, margin=0.3, lam=0.2, dtype=np.float64)
    head.params["weight"][...] = W
    loss = head.forward(x, y)
    dx = head.backward()
    ref = em_softmax_loss(x, W, y, margin=0.3, lam=0.2)
    assert abs(loss - ref[0]) < 1e-12
    np.testing.assert_allclose(dx, ref[1], rtol=1e-12)
    np.testing.assert_allclose(head.grads["weight"], ref[2], rtol=1e-12)
    assert head.terms["ce"].shape == (2,)
    assert abs(head.terms["diversity"] - diversity(W)) < 1e-12
    assert abs(head.diversity() - diversity(W)) < 1e-12


def test_head_float32_by_default_and_independent_classifiers():
    head = EMSoftmax(8, 10, ensemble=3, rng=0)
    W = head.params["weight"]
    assert W.dtype == np.float32 and W.shape == (3, 8, 10)
    assert not np.allclose(W[0], W[1])
    assert np.abs(W).max() <= 1 / np.sqrt(8)


# ---------------------------------------------------------------- stability


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_logits_give_finite_loss_and_gradients(dtype):
    x = np.array([[1.0], [-1.0], [1.0]], dtype=dtype)
    W = np.array([[[1e4, -1e4, 0.0]], [[-1e4, 1e4, 5.0]]], dtype=dtype)  # logits up to +-1e4
    y = np.array([1, 1, 2])
    loss, dx, dW = em_softmax_loss(x, W, y, margin=1.0, lam=0.1)
    assert np.isfinite(loss) and np.isfinite(dx).all() and np.isfinite(dW).all()
    assert dx.dtype == dtype and dW.dtype == dtype
    # the first classifier gets sample 0 wrong by 2e4: CE ~ 2e4 (+ margin), finite
    assert 1e4 < loss < 1e5


def test_zero_norm_column_gives_finite_loss_and_gradients():
    x, W, y = make(np, V=2)
    W[0, :, 1] = 0.0
    W[1] = 0.0  # a whole zero classifier, too
    for normalize in NORMALIZE:
        loss, dx, dW = em_softmax_loss(x, W, y, lam=0.5, normalize=normalize)
        assert np.isfinite(loss) and np.isfinite(dx).all() and np.isfinite(dW).all()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "change,exc,message",
    [
        (lambda x, W, y: (x[:, :3], W, y), ValueError, r"x has 3 features but W expects d = 5"),
        (lambda x, W, y: (x[0], W, y), ValueError, r"x must be 2-D"),
        (lambda x, W, y: (x, W[0], y), ValueError, r"W must be 3-D"),
        (lambda x, W, y: (x, W[:0], y), ValueError, r"at least one classifier \(V >= 1\)"),
        (lambda x, W, y: (x, W, y[:3]), ValueError, r"y must have shape \(6,\)"),
        (lambda x, W, y: (x, W, y + 4), ValueError, r"y must lie in \[0, 4\)"),
        (lambda x, W, y: (x, W, y - 10), ValueError, r"y must lie in \[0, 4\)"),
        (lambda x, W, y: (x, W, y.astype(float)), TypeError, r"y must hold integer class labels"),
        (lambda x, W, y: (x.astype(np.float32), W, y), TypeError, r"x has dtype float32 but W has dtype float64"),
        (lambda x, W, y: (x.astype(int), W, y), TypeError, r"x must have a floating dtype"),
        (lambda x, W, y: (x.tolist(), W, y), TypeError, r"x must be a NumPy or CuPy array"),
        (lambda x, W, y: (np.where(x > 0, np.nan, x), W, y), ValueError, r"x must be finite"),
        (lambda x, W, y: (x, W * np.inf, y), ValueError, r"W must be finite"),
    ],
)
def test_bad_arrays_raise_naming_the_argument(change, exc, message):
    x, W, y = make(np, V=2)
    x, W, y = change(x, W, y)
    with pytest.raises(exc, match=message):
        em_softmax_loss(x, W, y)


@pytest.mark.parametrize(
    "kwargs,exc,message",
    [
        ({"margin": -0.1}, ValueError, r"margin must be >= 0.0, got -0.1"),
        ({"lam": -1.0}, ValueError, r"lam must be >= 0.0, got -1.0"),
        ({"lam": float("nan")}, ValueError, r"lam must be finite"),
        ({"margin": "big"}, TypeError, r"margin must be a real number"),
        ({"normalize": "l1"}, ValueError, r"normalize must be one of 'column', 'frobenius', 'none', 'centered'; got 'l1'"),
    ],
)
def test_bad_hyperparameters_raise_naming_the_argument(kwargs, exc, message):
    x, W, y = make(np, V=2)
    with pytest.raises(exc, match=message):
        em_softmax_loss(x, W, y, **kwargs)


@pytest.mark.parametrize(
    "kwargs,exc,message",
    [
        ({"ensemble": 0}, ValueError, r"ensemble must be >= 1, got 0"),
        ({"ensemble": 2.5}, TypeError, r"ensemble must be an integer"),
        ({"num_classes": 1}, ValueError, r"num_classes must be >= 2, got 1"),
        ({"margin": -1}, ValueError, r"margin must be >= 0.0"),
        ({"lam": -0.5}, ValueError, r"lam must be >= 0.0"),
        ({"normalize": "max"}, ValueError, r"normalize must be one of"),
        ({"dtype": np.int32}, TypeError, r"dtype must be float32 or float64"),
    ],
)
def test_head_constructor_rejects_bad_arguments(kwargs, exc, message):
    args = {"in_features": 4, "num_classes": 3}
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        EMSoftmax(**args)


def test_head_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        EMSoftmax(4, 3).backward()


# ---------------------------------------------------------------- checks where the data enters
# The functional ops check nothing (emsm_np.functional); the loss, the head and the logits
# check their arguments, the labels once per step.

ENTRIES = {
    "em_softmax_loss": lambda x, W, y, **kw: em_softmax_loss(x, W, y, **kw),
    "EMSoftmax.forward": lambda x, W, y, **kw: EMSoftmax(W.shape[1], W.shape[2], ensemble=W.shape[0], dtype=W.dtype,
                                                          **kw).forward(x, y),
}


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("V", [1, 2])
@pytest.mark.parametrize("y, found", [([0, 4, 1], r"\[0, 4\]"), ([-1, 2, 3], r"\[-1, 3\]")])
def test_labels_outside_0_to_k_are_refused_naming_y_and_both_ranges(entry, V, y, found):
    x, W, _ = make(np, n=3, K=4, V=V)
    with pytest.raises(ValueError, match=r"^y must lie in \[0, 4\), got values in " + found):
        ENTRIES[entry](x, W, np.array(y))


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_negative_margin_is_refused_naming_margin(entry):
    x, W, y = make(np, n=3, V=1)
    with pytest.raises(ValueError, match=r"margin must be >= 0.0, got -0.5"):
        ENTRIES[entry](x, W, y, margin=-0.5)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("y, exc, message", [
    (np.array([0.0, 1.0, 2.0]), TypeError, r"y must hold integer class labels, got dtype float64"),
    (np.array([0, 1]), ValueError, r"y must have shape \(3,\) to match the batch, got \(2,\)"),
    ([0, 1, 2], TypeError, r"y must be an integer array of shape \(3,\), got list"),
])
def test_malformed_labels_are_refused_naming_y(entry, y, exc, message):
    x, W, _ = make(np, n=3, V=1)
    with pytest.raises(exc, match=message):
        ENTRIES[entry](x, W, y)


@pytest.mark.gpu
def test_margin_cross_entropy_on_the_gpu_runs_without_a_device_to_host_sync(gpu_xp):
    # Nothing in the op reads values (the labels' range is checked where they enter, and
    # only for NumPy labels: on the GPU that would stop every step).
    xp = gpu_xp
    z = xp.asarray(np.random.default_rng(0).standard_normal((5, 4)))
    y = xp.asarray(np.array([0, 1, 2, 3, 0]))
    with no_device_to_host_transfer(xp):
        loss, cache = margin_cross_entropy_forward(z, y, 0.5)
        margin_cross_entropy_backward(1.0, cache)
    expected, _ = margin_cross_entropy_forward(z.get(), y.get(), 0.5)
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-12)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("mode", ["Frobenius", "l2", "columns", None])
def test_a_misspelt_normalize_is_refused_listing_the_valid_ones(entry, mode):
    x, W, y = make(np, V=2)
    with pytest.raises(ValueError, match=r"normalize must be one of 'column', 'frobenius', 'none', 'centered'; got "
                       + repr(mode)):
        ENTRIES[entry](x, W, y, normalize=mode)


def test_diversity_rejects_a_misspelt_normalize_naming_normalize():
    _, W, _ = make(np, V=2)
    with pytest.raises(ValueError, match=r"normalize must be one of 'column', 'frobenius', 'none', 'centered'; got 'frobenious'"):
        diversity(W, normalize="frobenious")


def test_diversity_is_a_sum_of_squares_never_negative_and_exactly_zero_for_disjoint_classifiers():
    from emsm_np.functional.hsic import hsic_diversity_forward

    rng = np.random.default_rng(40)
    W = np.zeros((2, 8, 5))
    # Classifier 0 only tells class 0 from class 1, classifier 1 class 2 from class 3:
    # centred rows with disjoint class supports, so C_0 C_1^T = 0 and D = 0 exactly.
    W[0] = np.outer(rng.standard_normal(8), [1.0, -1.0, 0, 0, 0])
    W[1] = np.outer(rng.standard_normal(8), [0, 0, 1.0, -1.0, 0])
    D, _ = hsic_diversity_forward(W)
    assert float(D) == 0.0
    for seed in range(20):  # nearly diverse classifiers: tiny, but never below 0
        W = np.random.default_rng(seed).standard_normal((3, 6, 4))
        W[1:, :] *= 1e-6
        D, cache = hsic_diversity_forward(W)
        G = cache.gram
        assert float(D) >= 0
        pairs = sum(float((G[v] * G[u]).sum()) for v in range(3) for u in range(3) if u != v)  # tr(G_v G_u)
        np.testing.assert_allclose(float(D), pairs, rtol=1e-10)


def test_em_softmax_loss_rejects_labels_out_of_range_naming_y():
    x, W, y = make(np, V=2)
    y = y.copy()
    y[0] = W.shape[2]
    with pytest.raises(ValueError, match=r"^y must lie in \[0, "):
        em_softmax_loss(x, W, y)


@pytest.mark.parametrize("normalize", ["frobenius", "none", "centered"])
def test_head_diversity_uses_the_heads_own_normalisation(normalize):
    from emsm_np.losses import EMSoftmax
    from emsm_np.losses.em_softmax import diversity
    head = EMSoftmax(5, 4, ensemble=3, lam=0.1, normalize=normalize, dtype=np.float64,
                     rng=np.random.default_rng(0))
    W = head.params["weight"]
    assert head.diversity() == pytest.approx(diversity(W, normalize), rel=1e-12)
    assert head.diversity() != pytest.approx(diversity(W, "column"), rel=1e-6)
