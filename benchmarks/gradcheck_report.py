"""Worst finite-difference relative error per group: every layer and every formula of the paper.

Not a test (the tests assert the bounds); this prints the numbers, float64,
central differences with eps = 1e-6, over the same kinds of cases the tests use.
The layers are checked twice: on their reference routes (emsm_np.functional)
and on the fast CPU routes (emsm_np.cpu) that NumPy arrays take by default::

    python benchmarks/gradcheck_report.py
"""
import itertools

import numpy as np

from emsm_np import gradcheck, ops
from emsm_np.functional.dropout import dropout_backward, dropout_forward
from emsm_np.functional.hsic import hsic_diversity_backward, hsic_diversity_forward
from emsm_np.functional.margin_cross_entropy import margin_cross_entropy_backward, margin_cross_entropy_forward
from emsm_np.functional.normalize import NORMALIZE_MODES, normalize_backward, normalize_forward
from emsm_np.layers import (BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, PReLU, ReLU,
                            Sequential)
from emsm_np.losses import em_softmax_loss

F64 = np.float64
rng = np.random.default_rng(0)


def off_kinks(shape):
    """Values at least 0.1 from 0 (ReLU/PReLU kinks)."""
    x = rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    return x


def spread(shape):
    """Distinct values 0.1 apart (no max-pool ties within eps)."""
    return 0.1 * rng.permutation(int(np.prod(shape))).reshape(shape).astype(F64)


def worst(errors):
    return max(max(e.values()) for e in errors)


def layers():
    out = {}
    conv = []
    for xs, (f, kh, kw), s, p in [((2, 3, 5, 6), (4, 3, 3), 1, 1), ((2, 2, 7, 5), (3, 3, 2), (2, 1), (1, 2)),
                                  ((1, 3, 6, 8), (2, 2, 4), 2, 0), ((1, 2, 5, 5), (2, 5, 5), 3, 2)]:
        conv.append(gradcheck.check_layer(Conv2d(xs[1], f, (kh, kw), s, p, dtype=F64, rng=1), rng.standard_normal(xs)))
    out["Conv2d (4 stride/padding/kernel cases, non-square)"] = worst(conv)
    # kw*C >= ROWS_MIN_DEPTH at stride 1: on the CPU routes, forward, dx and dW through cpu/conv2d_rows.py
    rows = [gradcheck.check_layer(Conv2d(c, f, k, 1, p, dtype=F64, rng=1), rng.standard_normal((2, c, 5, 6)))
            for c, f, k, p in [(24, 24, 3, 1), (16, 16, (5, 4), 2)]]
    out["Conv2d, wide layers (stride 1, kw*C >= 64: the row im2col on the CPU routes)"] = worst(rows)
    pool = [gradcheck.check_layer(MaxPool2d(k, s, p, ceil_mode=c), spread(xs))
            for xs, k, s, p, c in [((2, 2, 6, 6), 2, 2, 0, False), ((1, 2, 7, 7), 2, 2, 0, True),
                                   ((1, 2, 7, 6), 3, 2, 1, True), ((2, 1, 5, 5), 3, 2, 0, False)]]
    out["MaxPool2d (incl. ceil mode, overlapping, padding)"] = worst(pool)
    out["Linear"] = worst([gradcheck.check_layer(Linear(5, 4, dtype=F64, rng=2), rng.standard_normal((6, 5)))])
    for train in (True, False):
        bn1 = BatchNorm1d(4, dtype=F64)
        bn2 = BatchNorm2d(3, dtype=F64)
        for bn in (bn1, bn2):
            bn.params["weight"][...] = rng.uniform(0.5, 1.5, bn.params["weight"].shape)
            bn.params["bias"][...] = rng.standard_normal(bn.params["bias"].shape)
            bn.buffers["running_mean"][...] = rng.standard_normal(bn.buffers["running_mean"].shape)
            bn.buffers["running_var"][...] = rng.uniform(0.5, 2, bn.buffers["running_var"].shape)
        mode = "train" if train else "eval"
        out[f"BatchNorm1d ({mode})"] = worst([gradcheck.check_layer(bn1, rng.standard_normal((6, 4)), train=train, seed=7)])
        out[f"BatchNorm2d ({mode})"] = worst([gradcheck.check_layer(bn2, rng.standard_normal((4, 3, 3, 2)), train=train, seed=7)])
    out["ReLU"] = worst([gradcheck.check_layer(ReLU(), off_kinks((3, 4, 2)))])
    out["PReLU (shared and per-channel)"] = worst([gradcheck.check_layer(PReLU(1, dtype=F64), off_kinks((3, 2, 2, 2))),
                                                    gradcheck.check_layer(PReLU(2, dtype=F64), off_kinks((3, 2, 2, 2)))])
    x = rng.standard_normal((4, 6))
    mask = rng.random((4, 6)) > 0.5
    y, cache = dropout_forward(x, mask, 0.5)
    g = rng.standard_normal(y.shape)
    dx = dropout_backward(g, cache)
    out["Dropout (fixed mask)"] = gradcheck.check_function(lambda: dropout_forward(x, mask, 0.5)[0], {"x": x}, {"x": dx}, dout=g)["x"]
    out["Flatten"] = worst([gradcheck.check_layer(Flatten(), rng.standard_normal((2, 3, 2, 2)))])
    seq = Sequential(Linear(5, 6, bias=False, dtype=F64, rng=3), BatchNorm1d(6, dtype=F64), PReLU(6, dtype=F64),
                     Linear(6, 3, dtype=F64, rng=4))
    out["Sequential (Linear-BN-PReLU-Linear)"] = worst([gradcheck.check_layer(seq, rng.standard_normal((8, 5)), seed=9)])
    return out


def head():
    out = {}
    errs = []
    for m in (0.0, 0.7):
        z = rng.standard_normal((7, 5))
        y = rng.integers(0, 5, 7)
        _, c = margin_cross_entropy_forward(z, y, m)
        errs.append(gradcheck.check_function(lambda: margin_cross_entropy_forward(z, y, m)[0], {"z": z},
                                             {"z": margin_cross_entropy_backward(1.0, c)}))
    out["Eq. 4 (M-Softmax w.r.t. the logits)"] = worst(errs)
    for mode in NORMALIZE_MODES:
        errs = []
        for V in (2, 3):
            W = rng.standard_normal((V, 5, 4))

            def f():
                return hsic_diversity_forward(normalize_forward(W, mode)[0])[0]

            W_hat, nc = normalize_forward(W, mode)
            _, hc = hsic_diversity_forward(W_hat)
            errs.append(gradcheck.check_function(f, {"W": W}, {"W": normalize_backward(hsic_diversity_backward(1.0, hc), nc)}))
        out[f"Eq. 6, its gradient in Eq. 9 (HSIC w.r.t. W_v, normalize={mode!r})"] = worst(errs)
    e_w, e_x = [], []
    for (V, m, lam), mode in itertools.product(itertools.product([1, 2, 3], [0.0, 0.5], [0.0, 0.1]), NORMALIZE_MODES):
        x = rng.standard_normal((6, 5))
        W = rng.standard_normal((V, 5, 4))
        y = rng.integers(0, 4, 6)
        _, dx, dW = em_softmax_loss(x, W, y, margin=m, lam=lam, normalize=mode)
        f = lambda: em_softmax_loss(x, W, y, margin=m, lam=lam, normalize=mode)[0]
        e = gradcheck.check_function(f, {"x": x, "W": W}, {"x": dx, "W": dW})
        e_w.append({"W": e["W"]})
        e_x.append({"x": e["x"]})
    out["Eq. 9 (Eq. 8 w.r.t. W_v; V 1-3, m 0/0.5, lam 0/0.1, all normalizations)"] = worst(e_w)
    out["Eq. 9 (Eq. 8 w.r.t. x; same cases)"] = worst(e_x)
    return out


if __name__ == "__main__":
    with ops.reference_routes():
        reference = layers()
    fast = layers()
    for title, group in (("layers, reference routes (emsm_np.functional)", reference),
                         ("layers, fast CPU routes (emsm_np.cpu, the default for NumPy arrays)", fast),
                         ("the paper's gradient formulas", head())):
        print(f"worst relative error, {title}:")
        for k, v in group.items():
            print(f"  {k:<75s} {v:.1e}")
