"""``emsm gradcheck``: every gradient formula of the paper, every compared loss and every layer, against
central differences, on the user's own machine and device.

:func:`report` runs a catalogue of checks (:data:`CHECKS`) and returns one row per check: the worst
relative error between the hand-derived gradient and central differences in float64
(:mod:`emsm_np.gradcheck`: step ``EPS``, error ``max|a - n| / max(1e-8, max(|a| + |n|))``), the bound
it is held to (``SMOOTH``, or ``KINK`` where the function has kinks) and a verdict. The groups:

- ``paper``: Eq. 4 (the soft-margin cross-entropy, w.r.t. the logits), Eqs. 5-6 (the HSIC term
  through each normalisation, w.r.t. W_v), Eq. 9 (the EM-Softmax loss of Eq. 8 w.r.t. W_v and
  w.r.t. x), and Eq. 9 as the paper states it (``lam W_v K_v``) against the exact gradient, a
  quarter of it (docs/derivations.md, "The paper's HSIC gradient");
- ``losses``: the losses Table 1 compares (HingeLoss, CenterLoss, L-Softmax, A-Softmax, N-Softmax);
- ``layers``: every layer, on its reference route and on the fast route of the device
  (:mod:`emsm_np.cpu` for NumPy, :mod:`emsm_np.gpu` for CuPy).

The paper's formulas and the layers run on both routes: a bug in either shows. On the GPU the same
checks run on CuPy arrays (the central differences copy one number per evaluation to the host: slow
per element, so the inputs are small). ``python -m emsm_np.cli gradcheck --help`` lists the switches.
"""
import itertools
import time
from collections import namedtuple

import numpy as np

from . import gradcheck, ops
from .backend import asnumpy
from .gradcheck import KINK, SMOOTH, check_function, check_layer

__all__ = ["CHECKS", "GROUPS", "report", "format_report"]

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


def _equation_numbers(text):
    """The equation numbers in "Eqs. 5-6", "eq9" or "4": {"5", "6"}, {"9"}, {"4"}; empty if there are none."""
    text = text.lower().replace("eqs", "").replace("eq", "").replace(".", "").replace(" ", "")
    first, _, last = text.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        return set()
    return {str(n) for n in range(int(first), int(last or first) + 1)}


def _selected(only, device):
    """``(check, route)`` pairs: every check on the reference route, and on the fast route where the device
    has one; of those, the ones ``only`` names (comma-separated: an equation, "9", "Eq. 9", "eq9",
    "Eqs. 5-6"; else a group, a route, or words of a check's name), or all for None."""
    pairs = [(c, r) for c in CHECKS for r in ROUTES if r == "reference" or device in c.fast]
    if not only:
        return pairs
    terms = [t.strip().lower() for t in only.split(",") if t.strip()]
    chosen = [(c, r) for c, r in pairs
              if any(_equation_numbers(t) <= _equation_numbers(c.equation) if _equation_numbers(t)
                     else t in (c.group, r) or t in c.name.lower() for t in terms)]
    if not chosen:
        raise ValueError(f"--only {only!r} names no check: give a group ({', '.join(GROUPS)}), a route "
                         f"({', '.join(ROUTES)}), an equation (4, 5, 6, 9) or words of a check's name")
    return chosen


def report(device="cpu", only=None, seed=0):
    """Run the checks and return ``{"device", "seed", "seconds", "checks": [...], "passed", "failed"}``.

    Parameters
    ----------
    device : "cpu" (NumPy) or "gpu" (CuPy; :class:`emsm_np.backend.GPUUnavailableError` without one)
    only : None, or a comma-separated list of groups ("paper", "losses", "layers"), routes
        ("reference", "fast"), equations ("4", "Eq. 9") or words of a check's name
    seed : int >= 0, for the random inputs

    Each entry of ``checks``: ``group``, ``name``, ``equation``, ``route``, ``error`` (the worst relative
    error over the check's inputs and cases, a float; NaN when the backward gave NaN), ``bound``,
    ``passed`` (``error < bound``) and ``errors`` (each input's).
    """
    from ._checks import check_choice, check_int
    from .backend import get_cupy

    check_choice("device", device, ("cpu", "gpu"))
    seed = check_int("seed", seed, minimum=0)
    chosen = _selected(only, device)
    xp = get_cupy() if device == "gpu" else np
    start, rows = time.perf_counter(), []
    for check, route in chosen:
        rng = np.random.default_rng([seed, CHECKS.index(check), ROUTES.index(route)])
        before = ops.fast_routes_enabled()
        ops.set_fast_routes(route == "fast")
        try:
            errors = check.run(xp, rng)
        finally:
            ops.set_fast_routes(before)
        worst = max(errors.values())
        rows.append({"group": check.group, "name": check.name, "equation": check.equation, "route": route,
                     "error": float(worst), "bound": check.bound, "passed": bool(worst < check.bound),
                     "errors": {k: float(v) for k, v in errors.items()}})
    failed = sum(not r["passed"] for r in rows)
    return {"device": device, "seed": seed, "seconds": round(time.perf_counter() - start, 2), "checks": rows,
            "passed": len(rows) - failed, "failed": failed}


def format_report(result):
    """The report as text: a header, one line per check, and a last line with the count."""
    route_name = {"reference": "reference", "fast": "fast " + ("GPU" if result["device"] == "gpu" else "CPU")}
    lines = [f"emsm gradcheck: hand-derived gradients against central differences (float64, step {gradcheck.EPS:g}) "
             f"on the {result['device']} ({'CuPy' if result['device'] == 'gpu' else 'NumPy'}), seed {result['seed']}",
             f"{'group':<7} {'equation':<9} {'route':<10} {'worst error':>11} {'bound':>6}  verdict  check"]
    for r in result["checks"]:
        verdict = "ok" if r["passed"] else "FAILS"
        lines.append(f"{r['group']:<7} {r['equation'] or '-':<9} {route_name[r['route']]:<10} {r['error']:>11.1e} "
                     f"{r['bound']:>6.0e}  {verdict:<7}  {r['name']}")
    n = len(result["checks"])
    lines.append(f"{n} checks: {result['passed']} passed, {result['failed']} failed ({result['seconds']:.1f} s)")
    return "\n".join(lines)
