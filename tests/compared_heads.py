"""What the tests of the compared losses (test_hinge_loss.py, test_center_loss.py,
test_l_softmax.py, test_a_softmax.py, test_n_softmax.py) share: inputs, the bad inputs
every loss must refuse, and the head contract (EMSoftmax's interface) every head must keep.
"""
import copy

import numpy as np
import pytest
from conftest import no_device_to_host_transfer

from emsm_np.gradcheck import SMOOTH, assert_gradients_match
from emsm_np.layers import Linear
from emsm_np.layers.sequential import Sequential
from emsm_np.models.network import Network
from emsm_np.optim import SGD

def make(xp, n=8, d=5, K=4, seed=0):
    """Features x (n, d), a classifier W (d, K) and labels y (n,), float64."""
    rng = np.random.default_rng(seed)
    x = xp.asarray(rng.standard_normal((n, d)))
    W = xp.asarray(rng.standard_normal((d, K)))
    y = xp.asarray(rng.integers(0, K, n))
    return x, W, y


def assert_feature_gradients(loss_fn, x, W, y, bound=SMOOTH, **kwargs):
    """``(dx, dW)`` of ``loss_fn(x, W, y, **kwargs)`` match central differences of its loss to ``bound``.

    Returns the relative errors by name (``"x"``, ``"W"``)."""
    _, dx, dW = loss_fn(x, W, y, **kwargs)[:3]
    f = lambda: loss_fn(x, W, y, **kwargs)[0]  # noqa: E731
    return assert_gradients_match(f, {"x": x, "W": W}, {"x": dx, "W": dW}, bound=bound)


# Malformed (x, W, y) and what the message must say; the same for every loss on (x, W, y).
BAD_ARRAYS = [
    (lambda x, W, y: (x[:, :3], W, y), ValueError, r"x has 3 features but W expects d = 5"),
    (lambda x, W, y: (x[0], W, y), ValueError, r"x must be 2-D"),
    (lambda x, W, y: (x, W[None], y), ValueError, r"W must be 2-D"),
    (lambda x, W, y: (x, W[:, :1], y), ValueError, r"W must have at least 2 classes"),
    (lambda x, W, y: (x, W, y[:3]), ValueError, r"y must have shape \(8,\)"),
    (lambda x, W, y: (x, W, y + 4), ValueError, r"y must lie in \[0, 4\)"),
    (lambda x, W, y: (x, W, y - 10), ValueError, r"y must lie in \[0, 4\)"),
    (lambda x, W, y: (x, W, y.astype(float)), TypeError, r"y must hold integer class labels"),
    (lambda x, W, y: (x.astype(np.float32), W, y), TypeError, r"x has dtype float32 but W has dtype float64"),
    (lambda x, W, y: (x.astype(int), W, y), TypeError, r"x must have a floating dtype"),
    (lambda x, W, y: (x.tolist(), W, y), TypeError, r"x must be a NumPy or CuPy array"),
    (lambda x, W, y: (np.where(x > 0, np.nan, x), W, y), ValueError, r"x must be finite"),
    (lambda x, W, y: (x, W * np.inf, y), ValueError, r"W must be finite"),
]
BAD_ARRAY_IDS = ["features", "x-1d", "W-3d", "one-class", "y-short", "y-high", "y-low", "y-float",
                 "dtype-mix", "x-int", "x-list", "x-nan", "W-inf"]

# Angular margins that are not positive integers (L-Softmax, A-Softmax).
BAD_MARGINS = [
    (0, ValueError, r"margin must be >= 1, got 0"),
    (-2, ValueError, r"margin must be >= 1, got -2"),
    (2.5, TypeError, r"margin must be an integer, got 2.5"),
    (2.0, TypeError, r"margin must be an integer, got 2.0"),
    (True, TypeError, r"margin must be an integer, got True"),
    ("4", TypeError, r"margin must be an integer, got '4'"),
]


def assert_margin_refused(loss_fn, head_cls, margin, exc, message):
    """A margin that is not a positive integer: the function and the head's constructor refuse it."""
    x, W, y = make(np)
    with pytest.raises(exc, match=message):
        loss_fn(x, W, y, margin=margin)
    with pytest.raises(exc, match=message):
        head_cls(5, 4, margin=margin)


def assert_head_matches_function(head, loss_fn, x, W, y, **kwargs):
    """The head's forward/backward equal the function's loss and gradients (float64)."""
    head.params["weight"][...] = W
    loss = head.forward(x, y)
    dx = head.backward()
    ref = loss_fn(x, W, y, **kwargs)
    assert abs(float(loss) - ref[0]) < 1e-12
    np.testing.assert_allclose(dx, ref[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(head.grads["weight"], ref[2], rtol=1e-10, atol=1e-14)


def assert_head_contract(head, x, y):
    """EMSoftmax's interface: one weak classifier, no diversity, logits/predict, backward after forward."""
    n, K = x.shape[0], head.num_classes
    with pytest.raises(RuntimeError, match="backward called before forward"):
        head.backward()
    assert head.ensemble == 1 and head.diversity() == 0.0
    assert head.params["weight"].shape == (head.in_features, K)
    assert set(head.grads) == set(head.params)
    logits = head.logits(x)
    assert logits.shape == (n, K)
    np.testing.assert_array_equal(head.weak_logits(x)[0], logits)
    np.testing.assert_array_equal(head.predict(x), logits.argmax(axis=1))
    loss = head.forward(x, y)
    assert loss.shape == () and np.isfinite(float(loss))
    dx = head.backward()
    assert dx.shape == x.shape and dx.dtype == x.dtype
    with pytest.raises(ValueError, match=r"x has 3 features"):
        head.forward(x[:, :3], y)


def assert_network_trains_with(head, d=6, n=16, K=4, steps=30, seed=0):
    """A Network takes the head: a few SGD steps on a separable toy problem lower the loss,
    only params move by the optimiser, and the state dict round-trips (params and buffers)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % K
    means = rng.standard_normal((K, 3)) * 3
    x = (means[y] + 0.3 * rng.standard_normal((n, 3))).astype(head.params["weight"].dtype)
    untrained = copy.deepcopy(head)  # the same configuration, for the checkpoint round trip
    features = Sequential(Linear(3, d, dtype=head.params["weight"].dtype, rng=seed))
    net = Network(features, head)
    opt = SGD(net, lr=0.05, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
    first = float(net.loss(x, y))
    net.backward()
    opt.step()
    for _ in range(steps):
        last = float(net.loss(x, y))
        net.backward()
        opt.step()
    assert last < first
    state = net.state_dict()
    assert all(f"head.buffers.{k}" in state for k in head.buffers)
    twin = Network(Sequential(Linear(3, d, dtype=head.params["weight"].dtype, rng=seed + 1)), untrained)
    twin.load_state_dict(state)
    np.testing.assert_array_equal(twin.logits(x), net.logits(x))
    for k, v in head.buffers.items():
        np.testing.assert_array_equal(twin.head.buffers[k], v)
    return net


def assert_gpu_step_copies_nothing(xp, head, seed=0):
    """On the GPU (or the CuPy double) the head's step runs and copies nothing to the host."""
    x, _, y = make(np, n=6, d=head.in_features, K=head.num_classes, seed=seed)
    x = x.astype(head.params["weight"].dtype)
    cpu_loss = float(head.forward(x, y, train=False))
    head.to("gpu")
    gx, gy = xp.asarray(x), xp.asarray(y)
    with no_device_to_host_transfer(xp):
        loss = head.forward(gx, gy)
        dx = head.backward()
        logits = head.logits(gx)
    assert abs(float(loss) - cpu_loss) < 1e-5 * max(1.0, abs(cpu_loss))
    assert dx.shape == gx.shape and logits.shape == (6, head.num_classes)
    head.to("cpu")


def boundary_angles(margin, delta=0.05):
    """Angles on both sides of every boundary ``j pi/m`` of psi's segments, the middle of every
    segment k = 0..m-1, and angles near 0 and pi."""
    sides = [j * np.pi / margin + s * delta for j in range(1, margin) for s in (-1, 1)]
    middles = [(k + 0.5) * np.pi / margin for k in range(margin)]
    return np.array(sides + middles + [delta, np.pi - delta])


def at_angles(xp, thetas, d=5, K=4, seed=0):
    """x (n, d), W (d, K), y (n,) with the angle between x_i and its target column w_{y_i}
    exactly ``thetas[i]``; the norms of the x_i drawn in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((d, K))
    n = len(thetas)
    y = rng.integers(0, K, n)
    x = np.empty((n, d))
    for i, theta in enumerate(thetas):
        w = W[:, y[i]] / np.linalg.norm(W[:, y[i]])
        u = rng.standard_normal(d)
        u -= w * (w @ u)  # a unit vector orthogonal to w
        u /= np.linalg.norm(u)
        x[i] = rng.uniform(0.5, 2.0) * (np.cos(theta) * w + np.sin(theta) * u)
    return xp.asarray(x), xp.asarray(W), xp.asarray(y)
