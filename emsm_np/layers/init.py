"""Initial weights, and the one-ulp perturbation that stands in for another processor.

Every layer and head with weights draws them through :func:`uniform_init`: a
uniform draw in ``[-bound, bound)`` from the layer's NumPy Generator, cast to the
layer's dtype. Training is deterministic for a seed *on one machine*; another
processor takes other BLAS kernels and rounds differently, and a few hundred
SGD steps turn that into a different network. An assertion about a trained
network (a tutorial's check, the learning tests) must hold on any machine, so
it is checked against a model of that rounding: the same run with every
initial weight moved by one unit in the last place.

``EMSM_PERTURB_INIT=k`` (a positive integer) in the environment switches the
perturbation on: every initial weight ``w`` becomes ``nextafter(w, +inf)`` or
``nextafter(w, -inf)`` in its own dtype, the direction of each entry drawn from
a Generator seeded with ``k`` and the array's own values (so each ``k`` is
another perturbation, each layer gets its own, and the run stays
reproducible). Unset, empty or ``0``: no perturbation. CI runs the tutorials and
the learning tests once with it (``.ci/run``).
"""
import os
import zlib

import numpy as np

__all__ = ["PERTURB_ENV", "perturbation", "uniform_init", "nudge_one_ulp"]

PERTURB_ENV = "EMSM_PERTURB_INIT"


def perturbation():
    """The ``k`` of ``EMSM_PERTURB_INIT`` (0: none); a bad value is a ``ValueError`` naming it."""
    raw = os.environ.get(PERTURB_ENV, "").strip()
    if raw == "":
        return 0
    try:
        k = int(raw)
    except ValueError:
        k = -1
    if k < 0:
        raise ValueError(f"the environment variable {PERTURB_ENV} must be a non-negative integer "
                         f"(0 or unset: no perturbation), got {raw!r}")
    return k


def nudge_one_ulp(w, k):
    """``w`` (a NumPy float array) with each entry moved one ulp up or down, directions from ``k``."""
    seed = [k, zlib.crc32(np.ascontiguousarray(w).tobytes())]
    up = np.random.default_rng(seed).integers(0, 2, w.shape).astype(bool)
    return np.where(up, np.nextafter(w, np.inf), np.nextafter(w, -np.inf)).astype(w.dtype)


def uniform_init(gen, bound, shape, dtype):
    """``gen.uniform(-bound, bound, shape)`` as ``dtype`` (NumPy, on the CPU), nudged one ulp
    per entry when ``EMSM_PERTURB_INIT`` is set."""
    w = gen.uniform(-bound, bound, shape).astype(dtype)
    k = perturbation()
    return nudge_one_ulp(w, k) if k else w
