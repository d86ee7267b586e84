"""Multi-class hinge loss of a linear classifier (Tang 2013, "Deep learning using linear
support vector machines"), as Caffe's ``HingeLoss`` layer computes it.

For features ``x`` (n, d), a classifier ``W`` (d, K) and labels ``y`` (n,)::

    z[i, k] = (x W)[i, k]                                  logits, no bias
    t[i, k] = +1 if k == y_i else -1                       one-vs-rest targets
    h[i, k] = max(0, 1 - t[i, k] z[i, k])                  the margin violation
    L       = (1/n) sum_i sum_k h[i, k]^p                  p = 1 ("l1") or 2 ("l2")

"l2" is Tang's L2-SVM (his choice in the paper: it is differentiable), "l1" the
classic hinge; Caffe's layer offers both (``norm: L1`` is its default, Tang's is
``L2``). Tang's ``||w||^2 / 2`` term is the network's weight decay. Every class is
scored against every sample (one-vs-rest), not only the runner-up as in
Crammer-Singer.

Gradient (``dh/dz = -t`` where ``h > 0``, and 0 where ``h = 0``)::

    dL/dz = -t * [h > 0] / n          ("l1"; at h = 0 exactly: 0, Caffe's sign(0) = 0)
    dL/dz = -2 t h / n                ("l2"; smooth: h = 0 there anyway)
    dL/dx = dL/dz W^T,   dL/dW = x^T dL/dz

"l1" has a kink at ``t z = 1``; finite-difference checks keep every ``t z`` away from 1.

Nothing here checks its arguments: :func:`emsm_np.losses.hinge_loss` and the head
:class:`emsm_np.losses.HingeLoss` check them where they enter.
"""
from collections import namedtuple

from ..backend import get_array_module

HINGE_NORMS = ("l1", "l2")

HingeCache = namedtuple("HingeCache", ["x", "W", "t", "h", "norm"])


def hinge_forward(x, W, y, norm="l1"):
    """Mean one-vs-rest hinge loss of ``z = x W``.

    Parameters
    ----------
    x : (n, d) float array
    W : (d, K) float array, same dtype and device
    y : (n,) int array, labels in [0, K)
    norm : "l1" | "l2", the power p of each violation

    Returns
    -------
    loss : 0-d array, ``(1/n) sum_ik h_ik^p``
    cache : HingeCache(x, W, t (n, K) of +-1, h (n, K) the violations, norm)
    """
    xp = get_array_module(x, W)
    n = x.shape[0]
    z = x @ W
    t = -xp.ones_like(z)
    t[xp.arange(n), y] = 1.0  # +1 at the target, -1 for every other class
    h = xp.maximum(0.0, 1.0 - t * z)
    per_entry = h if norm == "l1" else h * h
    loss = per_entry.sum() / n
    return loss, HingeCache(x, W, t, h, norm)


def hinge_backward(dloss, cache):
    """Gradients ``(dx (n, d), dW (d, K))`` of :func:`hinge_forward`, times ``dloss``."""
    x, W, t, h, norm = cache
    xp = get_array_module(x, W)
    n = x.shape[0]
    if norm == "l1":
        dz = -t * (h > 0)  # d/dz max(0, 1 - t z) = -t where the hinge is active
    else:
        dz = -2.0 * t * h  # d/dz h^2 = 2 h (-t); h = 0 where inactive
    dz = xp.asarray(dz * (dloss / n), dtype=x.dtype)
    return dz @ W.T, x.T @ dz
