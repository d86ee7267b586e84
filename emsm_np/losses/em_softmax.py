"""The EM-Softmax loss head as one function (Eqs. 4-9 of Wang et al. 2018).

For features ``x`` (n, d), weak classifiers ``W`` (V, d, K) and labels ``y``::

    z_v    = x W_v                                    (n, K)
    CE_v   = mean_i [ logsumexp(z~_v[i]) - z~_v[i, y_i] ],  z~_v = z_v - m onehot(y)   (Eq. 4)
    D      = sum_v sum_{u != v} tr(W^_v H W^_u^T W^_u H W^_v^T)                      (Eq. 6)
    L      = sum_v CE_v + lam * D                                                    (Eq. 8)

Switches: Softmax (V=1, m=0), M-Softmax (V=1, m>0), E-Softmax (V>=2, lam>0),
EM-Softmax (V>=2, m>0, lam>0). V=1 with lam>0 is allowed (the first point of the
paper's Fig. 2): one classifier has no pair, so D = 0 and lam has no effect.

Exact gradients (through the normalisation W -> W^)::

    dL/dW_v = x^T (P~_v - Y) / n + lam * J_v^T (4 W^_v M_v)                          (Eq. 9)
    dL/dx   = sum_v (P~_v - Y) W_v^T / n                                              (Eq. 9)

with ``P~_v = softmax(z~_v)``, ``Y = onehot(y)``, ``M_v`` the paper's ``K_v``
(see ``functional/hsic.py``) and ``J_v^T`` the backward of the normalisation
(``functional/normalize.py``). Test time uses the averaged classifier
``W- = mean_v W_v`` without margin.

The HSIC part of ``dL/dW_v``, two ways (``hsic_gradient``)::

    "exact" (default)  lam * J_v^T (4 W^_v M_v)   the derivative of the loss value
    "paper"            lam * J_v^T (W^_v M_v)     the paper's stated lam W_v K_v (Eq. 9)

The loss value, its parts (``terms``) and ``dL/dx`` are the same either way. How the two
differ and what that means for lam: docs/derivations.md, "The paper's HSIC gradient: a
quarter of the exact one".

Input checks. :func:`em_softmax_loss`, :func:`weak_logits`, :func:`ensemble_logits`,
:func:`diversity` and the head (:class:`emsm_np.losses.EMSoftmax`) check their arguments
where they enter (:func:`check_head_inputs`, the labels once per step);
:func:`em_softmax_forward` and :func:`em_softmax_backward`, the derivation in two halves,
check nothing, nor do the functions of :mod:`emsm_np.functional` they call.
"""
from ..backend import get_array_module
from .._checks import (
    check_array,
    check_features_for_classifier,
    check_choice,
    check_finite,
    check_float,
    check_same,
)
from ..ops import (hsic_diversity_backward, hsic_diversity_forward, normalize_backward, normalize_forward,
                   weak_cross_entropy_backward, weak_cross_entropy_forward)
from ..functional.normalize import NORMALIZE_MODES

__all__ = [
    "em_softmax_loss",
    "em_softmax_forward",
    "em_softmax_backward",
    "weak_logits",
    "ensemble_logits",
    "diversity",
    "check_head_inputs",
    "HSIC_GRADIENTS",
]

HSIC_GRADIENTS = ("exact", "paper")
# hsic_diversity_backward returns the exact 4 dD W^_v M_v; "paper" scales it to the stated form
# (docs/derivations.md, "The paper's HSIC gradient"), by a power of 2: exact in floating point.
_HSIC_SCALE = {"exact": 1.0, "paper": 0.25}


def check_head_inputs(x, W, y=None, margin=0.0, lam=0.0, normalize="column", hsic_gradient="exact"):
    """Validate the head's inputs; raise TypeError/ValueError naming the argument."""
    check_array("x", x, ndim=2)
    check_array("W", W, ndim=3)
    check_same(("x", x), ("W", W))
    V, d, K = W.shape
    if V < 1:
        raise ValueError(f"W must hold at least one classifier (V >= 1), got shape {tuple(W.shape)}")
    check_features_for_classifier(x, W, d, K, y)
    check_float("margin", margin, minimum=0.0)
    check_float("lam", lam, minimum=0.0)
    check_choice("normalize", normalize, NORMALIZE_MODES)
    check_choice("hsic_gradient", hsic_gradient, HSIC_GRADIENTS)
    check_finite("x", x)
    check_finite("W", W)


def _check_logit_inputs(x, W):
    check_array("x", x, ndim=2)
    check_array("W", W, ndim=3)
    check_same(("x", x), ("W", W))
    if x.shape[1] != W.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but W expects d = {W.shape[1]} (W of shape {tuple(W.shape)})")


def weak_logits(x, W):
    """Logits of every weak classifier: (V, n, K) = ``x W_v`` for each v.

    ``x`` (n, d) and ``W`` (V, d, K) share one dtype and one device.
    """
    _check_logit_inputs(x, W)
    xp = get_array_module(x, W)
    return xp.matmul(x[None], W)


def ensemble_logits(x, W):
    """Test-time logits ``x mean_v(W_v)`` (n, K): the averaged classifier, no margin.

    ``x`` (n, d) and ``W`` (V, d, K) share one dtype and one device.
    """
    _check_logit_inputs(x, W)
    return x @ W.mean(axis=0)


def diversity(W, normalize="column"):
    """The HSIC diversity term ``D`` of Eq. 6 for classifiers ``W`` (V, d, K), as a float."""
    check_choice("normalize", normalize, NORMALIZE_MODES)
    check_array("W", W, ndim=3)
    W_hat, _ = normalize_forward(W, normalize)
    D, _ = hsic_diversity_forward(W_hat)
    return float(D)


def em_softmax_forward(x, W, y, margin=0.0, lam=0.0, normalize="column", hsic_gradient="exact"):
    """Forward pass, Eqs. 4, 6 and 8, of inputs checked by the caller: ``(loss, terms, cache)``.

    Parameters as :func:`em_softmax_loss`: x (n, d), W (V, d, K), y (n,).

    Returns
    -------
    loss : 0-d array, ``sum_v CE_v + lam * D``
    terms : dict of the loss's parts on x's device: ``"ce"`` (V,) the cross-entropy
        of each weak classifier, ``"diversity"`` the HSIC term D (0-d)
    cache : tuple ``(x, W, ce_cache, ncache, hcache, lam, hsic_gradient)``: the
        inputs, the margin cross-entropies' cache (their softmax probabilities and
        the labels; :func:`emsm_np.ops.weak_cross_entropy_forward`), the normalisation
        and HSIC caches (None
        for V = 1), lam, and which HSIC gradient the backward takes ("exact" or
        "paper"; it does not change the loss)
    """
    V = W.shape[0]
    xp = get_array_module(x, W)
    Z = xp.matmul(x[None], W)  # z_v = x W_v for every v: (V, n, K), one batched GEMM
    ce, ce_cache = weak_cross_entropy_forward(Z, y, margin)  # Eq. 4 for each v: (V,)
    if V > 1:
        W_hat, ncache = normalize_forward(W, normalize)
        D, hcache = hsic_diversity_forward(W_hat)  # Eq. 6
    else:  # a single classifier has no pair to be diverse from
        D, ncache, hcache = xp.zeros((), W.dtype), None, None
    loss = ce.sum() + lam * D  # Eq. 8
    cache = (x, W, ce_cache, ncache, hcache, lam, hsic_gradient)
    return loss, {"ce": ce, "diversity": D}, cache


def em_softmax_backward(dloss, cache):
    """Gradients ``(dx, dW)`` of ``dloss`` times the loss (Eq. 9): exact, or with the paper's HSIC form.

    Parameters
    ----------
    dloss : scalar (or 0-d array on x's device), upstream gradient of the loss
    cache : the third result of :func:`em_softmax_forward`

    Returns
    -------
    dx : (n, d), ``sum_v dZ_v W_v^T``
    dW : (V, d, K), ``x^T dZ_v`` plus ``lam`` times the HSIC gradient through the
        normalisation: ``J_v^T (4 W^_v M_v)`` ("exact", the derivative of the loss) or
        ``J_v^T (W^_v M_v)`` ("paper", as the paper states it)
    """
    x, W, ce_cache, ncache, hcache, lam, hsic_gradient = cache
    xp = get_array_module(x, W)
    dZ = weak_cross_entropy_backward(dloss, ce_cache)  # (V, n, K): (p~_v - Y) / n for each v
    dx = xp.matmul(dZ, W.transpose(0, 2, 1)).sum(axis=0)  # Eq. 9: sum_v dZ_v W_v^T
    dW = xp.matmul(x.T[None], dZ)  # x^T dZ_v for each v
    if hcache is not None and lam > 0:
        dW_hat = hsic_diversity_backward(_HSIC_SCALE[hsic_gradient] * lam * dloss, hcache)
        dW += normalize_backward(dW_hat, ncache)  # Eq. 9: through the normalisation
    return dx.astype(x.dtype, copy=False), dW.astype(W.dtype, copy=False)


def em_softmax_loss(x, W, y, *, margin=0.0, lam=0.0, normalize="column", hsic_gradient="exact"):
    """EM-Softmax loss and its gradients (exact by default).

    Parameters
    ----------
    x : (n, d) float array, features (NumPy or CuPy)
    W : (V, d, K) float array, the V weak linear classifiers (same dtype/device as x)
    y : (n,) integer array, labels in [0, K)
    margin : float >= 0, soft margin m subtracted from the target logit (Eq. 4)
    lam : float >= 0, weight of the HSIC diversity term (Eq. 8)
    normalize : "column" | "frobenius" | "none" | "centered", how W_v is normalised inside
        the HSIC term (see ``emsm_np.functional.normalize``)
    hsic_gradient : "exact" (default) | "paper": the HSIC part of ``dW`` is the
        derivative of ``lam D`` or the paper's stated form (see the module docstring);
        the loss is the same

    Returns
    -------
    loss : float, ``sum_v CE_v + lam D``
    dx : (n, d) array, ``dL/dx`` (Eq. 9)
    dW : (V, d, K) array, ``dL/dW`` (Eq. 9) through the normalisation (its HSIC part
        as ``hsic_gradient`` says)

    Raises
    ------
    TypeError, ValueError
        for malformed inputs, naming the argument.
    """
    check_head_inputs(x, W, y, margin, lam, normalize, hsic_gradient)
    loss, _, cache = em_softmax_forward(x, W, y, float(margin), float(lam), normalize, hsic_gradient)
    dx, dW = em_softmax_backward(1.0, cache)
    return float(loss), dx, dW
