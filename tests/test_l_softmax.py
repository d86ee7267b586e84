"""L-Softmax [Liu et al. 2016]: psi by Chebyshev polynomials against its definition, the
gradients against finite differences on both sides of every segment boundary of psi, the
softmax limits (margin 1, beta -> inf), stability at ||x|| = 0 and theta = 0, pi, the beta
annealing schedule, and the head."""
import math

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

from emsm_np.functional.angular_margin import chebyshev_t_u, psi_backward, psi_forward
from emsm_np.functional.large_margin_logits import large_margin_logits_forward
from emsm_np.gradcheck import assert_gradients
from emsm_np.losses import (
    L_SOFTMAX_SCHEDULE,
    SPHEREFACE_SCHEDULE,
    BetaSchedule,
    LSoftmax,
    beta_schedule,
    l_softmax_loss,
)


def softmax_ce(z, y):
    return -log_softmax(z, axis=1)[np.arange(len(y)), y].mean()


def psi_by_its_definition(theta, m):
    """(-1)^k cos(m theta) - 2k with k = floor(theta m / pi), theta = pi in the last segment."""
    k = np.minimum(np.floor(theta * m / np.pi), m - 1)
    return (-1.0) ** k * np.cos(m * theta) - 2 * k


# ---------------------------------------------------------------- psi


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_psi_by_chebyshev_polynomials_equals_its_definition_through_arccos(m):
    theta = np.concatenate([np.linspace(0, np.pi, 181), np.arange(m + 1) * np.pi / m])
    psi, _ = psi_forward(np.cos(theta), m)
    np.testing.assert_allclose(psi, psi_by_its_definition(theta, m), atol=1e-12)


def test_chebyshev_recurrences_give_the_expansions_written_in_the_l_softmax_code():
    c = np.linspace(-1, 1, 41)
    written = {2: (2 * c**2 - 1, 4 * c), 3: (4 * c**3 - 3 * c, 12 * c**2 - 3),
               4: (8 * c**4 - 8 * c**2 + 1, 32 * c**3 - 16 * c)}
    for m, (t_m, dt_m) in written.items():
        t, u = chebyshev_t_u(c, m)
        np.testing.assert_allclose(t, t_m, atol=1e-13)
        np.testing.assert_allclose(m * u, dt_m, atol=1e-12)  # d T_m / dc = m U_{m-1}


@pytest.mark.parametrize("m", [2, 3, 4])
def test_psi_is_continuous_and_decreasing_in_theta_with_zero_slope_in_cos_at_each_boundary(m):
    theta = np.linspace(0, np.pi, 2001)
    psi, _ = psi_forward(np.cos(theta), m)
    assert (np.diff(psi) <= 1e-12).all()
    assert psi[0] == pytest.approx(1.0) and psi[-1] == pytest.approx(1 - 2 * m)
    for j in range(1, m):
        c = math.cos(j * math.pi / m)
        below, _ = psi_forward(np.array([c - 1e-9]), m)
        above, cache = psi_forward(np.array([c + 1e-9]), m)
        assert abs(below[0] - above[0]) < 1e-7 and abs(above[0] - (1 - 2 * j)) < 1e-7
        assert abs(cache.dpsi_dc[0]) < 1e-6


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_psi_derivative_in_cos_matches_finite_differences_on_both_sides_of_each_boundary(m):
    c = np.cos(boundary_angles(m))
    assert_gradients(lambda: psi_forward(c, m), psi_backward, {"c": c}, seed=m)


# ---------------------------------------------------------------- the loss


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_gradients_match_finite_differences_on_both_sides_of_every_psi_boundary(xp, m, beta):
    thetas = boundary_angles(m)
    x, W, y = at_angles(xp, thetas, seed=m)
    z, _ = large_margin_logits_forward(x, W, y, m, beta)
    segments = {min(int(t * m / np.pi), m - 1) for t in thetas}
    assert segments == set(range(m))  # every k = 0..m-1 is visited
    assert_feature_gradients(l_softmax_loss, x, W, y, margin=m, beta=beta)


def test_target_logit_is_the_l_softmax_formula_and_the_others_are_plain():
    x, W, y = make(np, seed=2)
    m, beta = 3, 0.7
    z, _ = large_margin_logits_forward(x, W, y, m, beta)
    for i in range(len(y)):
        w = W[:, y[i]]
        a, b = np.linalg.norm(w), np.linalg.norm(x[i])
        theta = np.arccos(np.clip(x[i] @ w / (a * b), -1, 1))
        expected = (beta * a * b * np.cos(theta) + a * b * psi_by_its_definition(theta, m)) / (1 + beta)
        assert z[i, y[i]] == pytest.approx(expected, rel=1e-12)
        others = [k for k in range(4) if k != y[i]]
        np.testing.assert_allclose(z[i, others], x[i] @ W[:, others], rtol=1e-13)


@pytest.mark.parametrize("beta", [0.0, 3.0])
def test_margin_one_is_plain_softmax_cross_entropy(beta):
    x, W, y = make(np, seed=3)
    loss, dx, dW = l_softmax_loss(x, W, y, margin=1, beta=beta)
    p = np.exp(log_softmax(x @ W, axis=1))
    p[np.arange(len(y)), y] -= 1
    assert loss == pytest.approx(softmax_ce(x @ W, y), abs=1e-12)
    np.testing.assert_allclose(dx, p @ W.T / len(y), atol=1e-12)
    np.testing.assert_allclose(dW, x.T @ p / len(y), atol=1e-12)


def test_beta_to_infinity_gives_back_plain_softmax():
    x, W, y = make(np, seed=4)
    loss, dx, _ = l_softmax_loss(x, W, y, margin=4, beta=1e12)
    assert loss == pytest.approx(softmax_ce(x @ W, y), rel=1e-9)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_a_margin_makes_the_loss_larger_than_softmax_and_a_larger_beta_brings_it_back(m):
    x, W, y = make(np, seed=5)
    plain = softmax_ce(x @ W, y)
    losses = [l_softmax_loss(x, W, y, margin=m, beta=b)[0] for b in (0.0, 1.0, 100.0)]
    assert losses[0] > losses[1] > losses[2] > plain  # psi(theta) <= cos(theta): the target logit drops


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_feature_zero_column_and_theta_0_or_pi_give_finite_loss_and_gradients(dtype):
    x, W, y = at_angles(np, np.array([0.0, np.pi, 1.0, 2.0]), seed=6)
    x[2] = 0.0  # ||x|| = 0
    W[:, y[3]] = 0.0  # a zero target column
    x, W = x.astype(dtype), W.astype(dtype)
    for m in (1, 2, 3, 4):
        loss, dx, dW = l_softmax_loss(x, W, y, margin=m)
        assert np.isfinite(loss) and np.isfinite(dx).all() and np.isfinite(dW).all()
        assert dx.dtype == dtype and dW.dtype == dtype
        assert np.abs(dx).max() < 1e3 and np.abs(dW).max() < 1e3  # bounded: no 1/||x||


def test_at_theta_zero_the_target_logit_is_the_plain_one_and_at_pi_it_is_one_minus_2m_times_the_norms():
    x, W, y = at_angles(np, np.array([0.0, np.pi]), seed=7)
    z, _ = large_margin_logits_forward(x, W, y, 4, 0.0)
    ab = np.linalg.norm(x, axis=1) * np.linalg.norm(W[:, y], axis=0)
    np.testing.assert_allclose(z[[0, 1], y], ab * np.array([1.0, 1 - 2 * 4]), rtol=1e-12)


# ---------------------------------------------------------------- the beta schedule


def test_beta_schedule_is_the_l_softmax_codes_formula_with_its_floor():
    assert beta_schedule(0) == 1000.0
    assert beta_schedule(1) == pytest.approx(1000 * (1 + 2.5e-5) ** -35, rel=1e-15)
    assert beta_schedule(8000, *L_SOFTMAX_SCHEDULE) == pytest.approx(1000 * 1.2 ** -35, rel=1e-14)
    assert beta_schedule(10**6, *SPHEREFACE_SCHEDULE) == 5.0  # the floor beta_min
    assert beta_schedule(10, base=10.0, gamma=1.0, power=1.0, beta_min=0.0) == pytest.approx(10 / 11)
    values = [beta_schedule(it) for it in range(0, 50000, 1000)]
    assert all(a > b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError, match=r"iteration must be >= 0, got -1"):
        beta_schedule(-1)


def test_head_anneals_beta_with_its_training_forwards_and_a_checkpoint_resumes_the_count():
    x, _, y = make(np)
    schedule = BetaSchedule(base=100.0, gamma=0.5, power=2.0, beta_min=1.0)
    head = LSoftmax(5, 4, beta=schedule, dtype=np.float64, rng=0)
    for it in (1, 2, 3):
        head.forward(x, y)
        head.backward()
        assert int(head.buffers["iteration"]) == it
        assert head.terms["beta"] == head.current_beta == beta_schedule(it, *schedule)
    head.forward(x, y, train=False)  # evaluating the loss does not count
    assert int(head.buffers["iteration"]) == 3
    resumed = LSoftmax(5, 4, beta=schedule, dtype=np.float64, rng=1)
    resumed.load_state_dict(head.state_dict())
    resumed.forward(x, y)
    assert int(resumed.buffers["iteration"]) == 4 and resumed.current_beta == beta_schedule(4, *schedule)


# ---------------------------------------------------------------- the head


@pytest.mark.parametrize("margin, beta", [(2, 0.0), (4, 0.3)])
def test_head_matches_the_function_and_keeps_the_em_softmax_head_interface(margin, beta):
    x, W, y = make(np)
    head = LSoftmax(5, 4, margin=margin, beta=beta, dtype=np.float64)
    assert head.margin == margin
    assert_head_matches_function(head, l_softmax_loss, x, W, y, margin=margin, beta=beta)
    np.testing.assert_allclose(head.logits(x), x @ W)  # test time: no margin
    assert_head_contract(head, x, y)


def test_head_defaults_to_margin_2_and_beta_0():
    head = LSoftmax(5, 4)
    assert head.margin == 2 and head.beta == 0.0 and head.params["weight"].dtype == np.float32


def test_a_network_trains_with_the_l_softmax_head():
    net = assert_network_trains_with(LSoftmax(6, 4, margin=2, beta=L_SOFTMAX_SCHEDULE, dtype=np.float64, rng=0))
    assert int(net.head.buffers["iteration"]) == 31


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("change, exc, message", BAD_ARRAYS, ids=BAD_ARRAY_IDS)
def test_bad_arrays_raise_naming_the_argument(change, exc, message):
    x, W, y = change(*make(np))
    with pytest.raises(exc, match=message):
        l_softmax_loss(x, W, y)


@pytest.mark.parametrize("margin, exc, message", BAD_MARGINS)
def test_a_margin_that_is_not_a_positive_integer_is_refused(margin, exc, message):
    assert_margin_refused(l_softmax_loss, LSoftmax, margin, exc, message)


@pytest.mark.parametrize(
    "beta, exc, message",
    [
        (-0.5, ValueError, r"beta must be >= 0.0, got -0.5"),
        (float("inf"), ValueError, r"beta must be finite"),
        ("high", TypeError, r"beta must be a real number"),
        ((1000, 0.1, 1, 0), TypeError, r"beta must be a number or a BetaSchedule"),
        (BetaSchedule(1000, -0.1, 1, 0), ValueError, r"beta.gamma must be >= 0.0, got -0.1"),
    ],
)
def test_a_bad_beta_is_refused_naming_it(beta, exc, message):
    with pytest.raises(exc, match=message):
        LSoftmax(5, 4, beta=beta)
    if not isinstance(beta, tuple):
        x, W, y = make(np)
        with pytest.raises(exc, match=message):
            l_softmax_loss(x, W, y, beta=beta)


@pytest.mark.gpu
def test_head_on_the_gpu_copies_nothing_to_the_host_and_keeps_its_counter_on_the_host(gpu_xp):
    head = LSoftmax(5, 4, margin=3, beta=SPHEREFACE_SCHEDULE, rng=0)
    head.to("gpu")
    assert isinstance(head.buffers["iteration"], np.ndarray)
    head.to("cpu")
    head.beta = 0.5  # a fixed beta: the CPU reference forward and the GPU one use the same
    assert_gpu_step_copies_nothing(gpu_xp, head)
