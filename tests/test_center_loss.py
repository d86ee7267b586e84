"""CenterLoss [Wen et al. 2016]: the loss and its gradients against finite differences,
Wen's centre update against a hand computation, and the head (softmax + lam * L_C) whose
centres are state that SGD never touches and checkpoints keep."""
import numpy as np
import pytest
from compared_heads import (
    assert_gpu_step_copies_nothing,
    assert_head_contract,
    assert_network_trains_with,
    make,
)
from scipy.special import log_softmax

from emsm_np.backend import asnumpy
from emsm_np.functional.center_loss import center_delta, center_loss_backward, center_loss_forward
from emsm_np.gradcheck import assert_gradients, assert_gradients_match
from emsm_np.losses import CenterLoss, center_loss
from emsm_np.optim import SGD
from emsm_np.training.checkpoint import load_checkpoint, save_checkpoint


def make_centers(xp, K=4, d=5, seed=9):
    return xp.asarray(np.random.default_rng(seed).standard_normal((K, d)))


def test_loss_is_half_the_mean_squared_distance_to_the_own_centre():
    x, _, y = make(np)
    c = make_centers(np)
    loss, _, _ = center_loss(x, y, c)
    expected = sum(0.5 * np.sum((x[i] - c[y[i]]) ** 2) for i in range(len(y))) / len(y)
    assert abs(loss - expected) < 1e-12


def test_feature_and_centre_gradients_match_finite_differences(xp):
    x, _, y = make(xp)
    c = make_centers(xp)
    assert_gradients(lambda: center_loss_forward(x, y, c), center_loss_backward, {"x": x, "centers": c})


def test_wen_update_matches_a_hand_computation_on_a_tiny_example():
    # three classes, two samples of class 0, one of class 1, none of class 2
    x = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    y = np.array([0, 0, 1])
    c = np.array([[1.0, 1.0], [0.0, 0.0], [5.0, 5.0]])
    loss, dx, delta = center_loss(x, y, c)
    # ||x - c_y||^2: (0 + 1) + (4 + 1) + (0 + 4) = 10; L = 10 / (2 * 3)
    assert loss == pytest.approx(10 / 6, abs=1e-15)
    np.testing.assert_allclose(dx, np.array([[0.0, -1.0], [2.0, -1.0], [0.0, 2.0]]) / 3, rtol=1e-15)
    # delta_c_0 = ((c_0 - x_0) + (c_0 - x_1)) / (1 + 2) = ((0, 1) + (-2, 1)) / 3
    # delta_c_1 = (c_1 - x_2) / (1 + 1) = (0, -2) / 2;   delta_c_2 = 0 (no sample)
    np.testing.assert_allclose(delta, np.array([[-2 / 3, 2 / 3], [0.0, -1.0], [0.0, 0.0]]), atol=1e-15)
    # with alpha = 0.5 the head moves c_0 to (4/3, 2/3) and c_1 to (0, 1/2): halfway-ish to the class mean
    head = CenterLoss(2, 3, lam=0.1, alpha=0.5, dtype=np.float64)
    head.buffers["centers"][...] = c
    head.forward(x, y)
    head.backward()
    np.testing.assert_allclose(head.buffers["centers"], np.array([[4 / 3, 2 / 3], [0.0, 0.5], [5.0, 5.0]]), atol=1e-15)


def test_wen_step_differs_from_the_gradient_by_n_over_one_plus_n_j():
    x, _, y = make(np, n=12)
    c = make_centers(np)
    _, cache = center_loss_forward(x, y, c)
    _, dc = center_loss_backward(1.0, cache)
    counts = np.bincount(y, minlength=4)
    np.testing.assert_allclose(center_delta(cache), dc * 12 / (1 + counts)[:, None], rtol=1e-12, atol=1e-15)


def test_centres_at_the_class_means_give_a_zero_step_and_the_smallest_loss():
    x, _, y = make(np, n=12)
    means = np.stack([x[y == j].mean(axis=0) for j in range(4)])
    loss, _, delta = center_loss(x, y, means)
    np.testing.assert_allclose(delta, 0, atol=1e-15)
    assert loss < center_loss(x, y, means + 0.01)[0]


# ---------------------------------------------------------------- the head


def reference_head_loss(x, W, y, c, lam):
    """Softmax cross-entropy of x W plus lam times the center loss, from the formulas."""
    ce = -log_softmax(x @ W, axis=1)[np.arange(len(y)), y].mean()
    return ce + lam * 0.5 * ((x - c[y]) ** 2).sum(axis=1).mean()


def test_head_loss_is_softmax_plus_lam_center_and_its_gradients_match_finite_differences(xp):
    x, W, y = make(xp)
    head = CenterLoss(5, 4, lam=0.3, alpha=0.5, dtype=np.float64).to("gpu" if xp is not np else "cpu")
    head.params["weight"][...] = W
    head.buffers["centers"][...] = make_centers(xp)
    c0 = head.buffers["centers"].copy()
    loss = head.forward(x, y, train=False)  # train=False: the centres stay, as finite differences need
    dx = head.backward()
    assert (head.buffers["centers"] == c0).all()
    ref = reference_head_loss(*(asnumpy(a) for a in (x, W, y, c0)), 0.3)
    assert abs(float(loss) - ref) < 1e-12
    assert_gradients_match(lambda: head.forward(x, y, train=False), {"x": x, "W": head.params["weight"]},
                           {"x": dx, "W": head.grads["weight"].copy()})
    assert set(head.terms) == {"ce", "center"}


def test_the_optimiser_never_touches_the_centres_and_backward_moves_them_by_wens_rule():
    x, W, y = make(np)
    head = CenterLoss(5, 4, lam=0.1, alpha=0.3, dtype=np.float64)
    head.buffers["centers"][...] = make_centers(np)
    assert "centers" not in head.params and "centers" not in head.grads
    opt = SGD(head.params, head.grads, lr=0.5, momentum=0.9, weight_decay=5e-4)
    c0 = head.buffers["centers"].copy()
    head.forward(x, y)
    head.backward()
    expected = c0 - 0.3 * center_loss(x, y, c0)[2]
    np.testing.assert_allclose(head.buffers["centers"], expected, rtol=1e-15)
    opt.step()
    np.testing.assert_array_equal(head.buffers["centers"], expected)


def test_alpha_zero_freezes_the_centres():
    x, _, y = make(np)
    head = CenterLoss(5, 4, alpha=0.0, dtype=np.float64)
    head.forward(x, y)
    head.backward()
    assert not head.buffers["centers"].any()


def test_head_keeps_the_em_softmax_head_interface():
    x, W, y = make(np)
    head = CenterLoss(5, 4, dtype=np.float64, rng=0)
    assert_head_contract(head, x, y)
    np.testing.assert_allclose(head.logits(x), x @ head.params["weight"])
    assert head.buffers["centers"].shape == (4, 5) and head.buffers["centers"].dtype == np.float64


def test_a_network_trains_with_the_center_head_and_the_centres_survive_a_checkpoint(tmp_path):
    net = assert_network_trains_with(CenterLoss(6, 4, lam=0.1, alpha=0.5, dtype=np.float64, rng=0))
    centers = net.head.buffers["centers"]
    assert centers.any() and "head.centers" in net.buffers and "head.centers" not in net.params
    path = str(tmp_path / "checkpoint.npz")
    save_checkpoint(path, net.state_dict(), {"lr": 0.1}, {"iteration": 1})
    model, _, _ = load_checkpoint(path)
    np.testing.assert_array_equal(model["head.buffers.centers"], centers)
    fresh = CenterLoss(6, 4, dtype=np.float64)
    fresh.load_state_dict({k[len("head."):]: v for k, v in model.items() if k.startswith("head.")})
    np.testing.assert_array_equal(fresh.buffers["centers"], centers)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "change, exc, message",
    [
        (lambda x, y, c: (x[:, :3], y, c), ValueError, r"x has 3 features but centers has d = 5"),
        (lambda x, y, c: (x, y, c[None]), ValueError, r"centers must be 2-D"),
        (lambda x, y, c: (x, y, c[:0]), ValueError, r"at least one class centre"),
        (lambda x, y, c: (x, y + 4, c), ValueError, r"y must lie in \[0, 4\)"),
        (lambda x, y, c: (x, y[:2], c), ValueError, r"y must have shape \(8,\)"),
        (lambda x, y, c: (x, y, c.astype(np.float32)), TypeError, r"x has dtype float64 but centers has dtype float32"),
        (lambda x, y, c: (x, y, c * np.nan), ValueError, r"centers must be finite"),
        (lambda x, y, c: (x * np.inf, y, c), ValueError, r"x must be finite"),
    ],
)
def test_bad_arrays_raise_naming_the_argument(change, exc, message):
    x, _, y = make(np)
    x, y, c = change(x, y, make_centers(np))
    with pytest.raises(exc, match=message):
        center_loss(x, y, c)


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        ({"lam": -1.0}, ValueError, r"lam must be >= 0.0, got -1.0"),
        ({"alpha": 1.5}, ValueError, r"alpha must be <= 1.0, got 1.5"),
        ({"alpha": -0.1}, ValueError, r"alpha must be >= 0.0"),
        ({"alpha": "half"}, TypeError, r"alpha must be a real number"),
        ({"num_classes": 1}, ValueError, r"num_classes must be >= 2"),
    ],
)
def test_head_constructor_rejects_bad_arguments(kwargs, exc, message):
    args = {"in_features": 5, "num_classes": 4}
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        CenterLoss(**args)


@pytest.mark.gpu
def test_head_on_the_gpu_copies_nothing_to_the_host(gpu_xp):
    head = CenterLoss(5, 4, lam=0.1, rng=0)
    assert_gpu_step_copies_nothing(gpu_xp, head)
    assert head.buffers["centers"].any()  # moved on the device, brought back by to("cpu")
