"""The catalogue of ``emsm gradcheck`` (:mod:`emsm_np.gradcheck_report`): one :data:`Check` per gradient
formula of the paper, compared loss and layer case, each a function ``run(xp, rng)`` that builds small
float64 inputs on the array module ``xp`` and returns the relative errors of its gradients against
central differences (:mod:`emsm_np.gradcheck`).

Inputs are kept away from kinks where a function has them (ReLU's and PReLU's 0, max-pooling's ties,
the L1 hinge's corner), and those checks are held to ``KINK``, the others to ``SMOOTH``.
"""
import itertools
from collections import namedtuple

import numpy as np

from . import gradcheck, ops
from .gradcheck import KINK, SMOOTH, check_function, check_layer

__all__ = ["Check", "CHECKS", "GROUPS", "ROUTES"]

GROUPS = ("paper", "losses", "layers")
ROUTES = ("reference", "fast")

Check = namedtuple("Check", ["group", "name", "equation", "bound", "fast", "run"])
Check.__doc__ = ("One entry of the catalogue: ``run(xp, rng)`` returns the relative errors of its inputs (a dict); "
                 "it runs on the reference route, and again on the fast route on the devices in ``fast`` "
                 "(those where the operations it checks have one).")
BOTH, GPU_ONLY, NONE = ("cpu", "gpu"), ("gpu",), ()


def _cases(*errors):
    """The relative errors of several cases, as one dict (``"<case>.<input>"``)."""
    return {f"{i}.{k}": v for i, e in enumerate(errors) for k, v in e.items()}


def _off_kinks(rng, shape):
    """Values at least 0.1 from 0, both signs (ReLU's and PReLU's kink)."""
    return rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)


def _spread(rng, shape):
    """Distinct values 0.1 apart (no max-pooling ties within the step)."""
    return 0.1 * rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)


# --------------------------------------------------------------------------- the paper

def _eq4(xp, rng):
    """Eq. 4 for V weak classifiers at once, as the EM-Softmax head computes it (sum of the V losses)."""
    errors = []
    for margin in (0.0, 0.7):
        Z = xp.asarray(rng.standard_normal((2, 6, 5)))
        y = xp.asarray(rng.integers(0, 5, 6))
        _, cache = ops.weak_cross_entropy_forward(Z, y, margin)
        dZ = ops.weak_cross_entropy_backward(1.0, cache)
        errors.append(check_function(lambda: ops.weak_cross_entropy_forward(Z, y, margin)[0].sum(), {"z": Z},
                                     {"z": dZ}))
    return _cases(*errors)


def _hsic(mode):
    def run(xp, rng):
        errors = []
        for V in (2, 3):
            W = xp.asarray(rng.standard_normal((V, 5, 4)))
            W_hat, ncache = ops.normalize_forward(W, mode)
            _, hcache = ops.hsic_diversity_forward(W_hat)
            dW = ops.normalize_backward(ops.hsic_diversity_backward(1.0, hcache), ncache)
            f = lambda: ops.hsic_diversity_forward(ops.normalize_forward(W, mode)[0])[0]  # noqa: E731
            errors.append(check_function(f, {"W": W}, {"W": dW}))
        return _cases(*errors)
    return run


def _eq9(wrt):
    def run(xp, rng):
        from .losses import em_softmax_loss

        errors = []
        for V, mode in itertools.product((1, 3), ("column", "frobenius", "none", "centered")):
            x = xp.asarray(rng.standard_normal((6, 4)))
            W = xp.asarray(rng.standard_normal((V, 4, 3)))
            y = xp.asarray(rng.integers(0, 3, 6))
            kwargs = dict(margin=0.5, lam=0.1, normalize=mode)
            _, dx, dW = em_softmax_loss(x, W, y, **kwargs)
            f = lambda: em_softmax_loss(x, W, y, **kwargs)[0]  # noqa: E731
            errors.append(check_function(f, {wrt: x if wrt == "x" else W}, {wrt: dx if wrt == "x" else dW}))
        return _cases(*errors)
    return run


def _paper_form(xp, rng):
    """The HSIC part of dW as the paper states it (lam W_v K_v), four times, against the exact one."""
    from .losses import em_softmax_loss

    x = xp.asarray(rng.standard_normal((6, 4)))
    W = xp.asarray(rng.standard_normal((3, 4, 3)))
    y = xp.asarray(rng.integers(0, 3, 6))
    hsic_part = {}
    for form in ("exact", "paper"):
        _, _, with_lam = em_softmax_loss(x, W, y, margin=0.5, lam=0.1, hsic_gradient=form)
        _, _, without = em_softmax_loss(x, W, y, margin=0.5, lam=0.0, hsic_gradient=form)
        hsic_part[form] = with_lam - without
    return {"W": gradcheck.rel_error(4 * hsic_part["paper"], hsic_part["exact"])}


# --------------------------------------------------------------------------- the compared losses

def _away_from_the_hinge(rng, gap=1e-3):
    """Features, classifier and labels with every hinge ``1 - t z`` at least ``gap`` from 0 (its corner)."""
    while True:
        x, W, y = rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.integers(0, 3, 6)
        t = -np.ones((6, 3))
        t[np.arange(6), y] = 1
        if np.abs(1 - t * (x @ W)).min() >= gap:
            return x, W, y


def _compared(loss_name, hinge_corner=False, **kwargs):
    def run(xp, rng):
        from . import losses

        loss_fn = getattr(losses, loss_name)
        errors = []
        for _ in range(2):
            if hinge_corner:  # the L1 hinge has a kink at every corner: keep the inputs away from it
                x, W, y = (xp.asarray(a) for a in _away_from_the_hinge(rng))
            else:
                x, W, y = (xp.asarray(a) for a in (rng.standard_normal((6, 4)), rng.standard_normal((4, 3)),
                                                   rng.integers(0, 3, 6)))
            _, dx, dW = loss_fn(x, W, y, **kwargs)[:3]
            f = lambda: loss_fn(x, W, y, **kwargs)[0]  # noqa: E731
            errors.append(check_function(f, {"x": x, "W": W}, {"x": dx, "W": dW}))
        return _cases(*errors)
    return run


def _center(xp, rng):
    from .functional.center_loss import center_loss_backward, center_loss_forward

    x = xp.asarray(rng.standard_normal((6, 4)))
    c = xp.asarray(rng.standard_normal((3, 4)))
    y = xp.asarray(rng.integers(0, 3, 6))
    _, cache = center_loss_forward(x, y, c)
    dx, dc = center_loss_backward(1.0, cache)
    return check_function(lambda: center_loss_forward(x, y, c)[0], {"x": x, "centers": c}, {"x": dx, "centers": dc})


# --------------------------------------------------------------------------- the layers

def _layer(build, shape, inputs=None, train=True):
    def run(xp, rng):
        layer = build(rng)
        device = "gpu" if xp is not np else "cpu"
        layer.to(device)
        x = (inputs or (lambda r, s: r.standard_normal(s)))(rng, shape)
        return check_layer(layer, xp.asarray(x), train=train, seed=int(rng.integers(1 << 30)))
    return run


def _batch_norm(kind, train):
    def build(rng):
        from .layers import BatchNorm1d, BatchNorm2d

        bn = (BatchNorm1d if kind == 1 else BatchNorm2d)(3, dtype=np.float64)
        bn.params["weight"][...] = rng.uniform(0.5, 1.5, 3)
        bn.params["bias"][...] = rng.standard_normal(3)
        bn.buffers["running_mean"][...] = rng.standard_normal(3)
        bn.buffers["running_var"][...] = rng.uniform(0.5, 2.0, 3)
        return bn
    return build


def _dropout(xp, rng):
    x = xp.asarray(rng.standard_normal((4, 6)))
    mask = xp.asarray(rng.random((4, 6)) > 0.5)
    out, cache = ops.dropout_forward(x, mask, 0.5)
    g = xp.asarray(rng.standard_normal(out.shape))
    return check_function(lambda: ops.dropout_forward(x, mask, 0.5)[0], {"x": x}, {"x": ops.dropout_backward(g, cache)},
                          dout=g)


def _layers():
    from .layers import BatchNorm1d, Conv2d, Flatten, Linear, MaxPool2d, PReLU, ReLU, Sequential

    f64 = dict(dtype=np.float64)
    return [  # name, bound, devices with a fast route, check
        ("Conv2d, 3x3, stride 1, padding 1", SMOOTH, BOTH,
         _layer(lambda r: Conv2d(2, 3, 3, 1, 1, rng=1, **f64), (2, 2, 5, 4))),
        ("Conv2d, 3x2 kernel, stride (2, 1), padding (1, 0)", SMOOTH, BOTH,
         _layer(lambda r: Conv2d(2, 2, (3, 2), (2, 1), (1, 0), rng=2, **f64), (1, 2, 6, 5))),
        ("Conv2d, wide (kw C >= 64: the row im2col on the CPU)", SMOOTH, BOTH,
         _layer(lambda r: Conv2d(22, 2, 3, 1, 1, rng=3, **f64), (1, 22, 4, 4))),
        ("MaxPool2d, 2x2 at stride 2, ceil mode", KINK, BOTH,
         _layer(lambda r: MaxPool2d(2, 2, ceil_mode=True), (2, 2, 5, 4), _spread)),
        ("MaxPool2d, 3x3 at stride 2, padding 1 (overlapping)", KINK, NONE,
         _layer(lambda r: MaxPool2d(3, 2, 1), (1, 2, 5, 5), _spread)),
        ("Linear", SMOOTH, BOTH, _layer(lambda r: Linear(5, 4, rng=4, **f64), (6, 5))),
        ("BatchNorm1d, train", SMOOTH, BOTH, _layer(_batch_norm(1, True), (6, 3))),
        ("BatchNorm1d, eval", SMOOTH, BOTH, _layer(_batch_norm(1, False), (6, 3), train=False)),
        ("BatchNorm2d, train", SMOOTH, BOTH, _layer(_batch_norm(2, True), (4, 3, 2, 2))),
        ("BatchNorm2d, eval", SMOOTH, BOTH, _layer(_batch_norm(2, False), (4, 3, 2, 2), train=False)),
        ("ReLU", KINK, BOTH, _layer(lambda r: ReLU(), (3, 4, 2), _off_kinks)),
        ("PReLU, one slope", KINK, BOTH, _layer(lambda r: PReLU(1, **f64), (3, 2, 2, 2), _off_kinks)),
        ("PReLU, a slope per channel", KINK, BOTH, _layer(lambda r: PReLU(2, **f64), (3, 2, 2, 2), _off_kinks)),
        ("Dropout (a fixed mask)", SMOOTH, NONE, _dropout),
        ("Flatten", SMOOTH, NONE, _layer(lambda r: Flatten(), (2, 3, 2, 2))),
        ("Sequential: Linear - BatchNorm1d - PReLU - Linear", KINK, BOTH,
         _layer(lambda r: Sequential(Linear(5, 6, bias=False, rng=5, **f64), BatchNorm1d(6, **f64), PReLU(6, **f64),
                                     Linear(6, 3, rng=6, **f64)), (8, 5))),
    ]


def _catalogue():
    paper = [Check("paper", "M-Softmax cross-entropy w.r.t. the logits, V classifiers at once", "Eq. 4", SMOOTH,
                   GPU_ONLY, _eq4)]
    paper += [Check("paper", f"HSIC diversity w.r.t. W_v, normalize={mode!r}", "Eqs. 5-6", SMOOTH, GPU_ONLY,
                    _hsic(mode)) for mode in ("column", "frobenius", "none", "centered")]
    paper += [
        Check("paper", "EM-Softmax loss (Eq. 8) w.r.t. W_v; V 1 and 3, every normalisation", "Eq. 9", SMOOTH,
              GPU_ONLY, _eq9("W")),
        Check("paper", "EM-Softmax loss (Eq. 8) w.r.t. x; the same cases", "Eq. 9", SMOOTH, GPU_ONLY, _eq9("x")),
        Check("paper", "the HSIC part as stated (lam W_v K_v), times 4, against the exact one", "Eq. 9", SMOOTH,
              NONE, _paper_form),
    ]
    losses = [
        Check("losses", "HingeLoss, L1 (inputs 1e-3 from the corner)", "", KINK, NONE,
              _compared("hinge_loss", hinge_corner=True, norm="l1")),
        Check("losses", "HingeLoss, L2", "", SMOOTH, NONE, _compared("hinge_loss", norm="l2")),
        Check("losses", "CenterLoss, w.r.t. the features and the centres", "", SMOOTH, NONE, _center),
        Check("losses", "L-Softmax, m = 2, beta = 0.5", "", SMOOTH, NONE, _compared("l_softmax_loss", margin=2, beta=0.5)),
        Check("losses", "A-Softmax, m = 4", "", SMOOTH, NONE, _compared("a_softmax_loss", margin=4)),
        Check("losses", "N-Softmax, s = 16", "", SMOOTH, NONE, _compared("n_softmax_loss", scale=16.0)),
    ]
    layers = [Check("layers", name, "", bound, fast, run) for name, bound, fast, run in _layers()]
    return paper + losses + layers


CHECKS = _catalogue()
