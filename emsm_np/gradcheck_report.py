"""``emsm gradcheck``: every gradient formula of the paper, every compared loss and every layer, against
central differences, on the user's own machine and device.

:func:`report` runs a catalogue of checks (:data:`CHECKS`) and returns one row per check: the worst
relative error between the hand-derived gradient and central differences in float64
(:mod:`emsm_np.gradcheck`: step ``EPS``, error ``max|a - n| / max(1e-8, max(|a| + |n|))``), the bound
it is held to (``SMOOTH``, or ``KINK`` where the function has kinks) and a verdict. The groups (the catalogue is :mod:`emsm_np.gradcheck_cases`):

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
import time

import numpy as np

from . import gradcheck, ops
from .gradcheck_cases import CHECKS, GROUPS, ROUTES

__all__ = ["CHECKS", "GROUPS", "report", "format_report"]


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
