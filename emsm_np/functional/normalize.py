"""Normalisation of the weak classifiers before the HSIC term.

The paper normalises the classifiers for its diversity term: the HSIC of
Eq. 6 is "value-aware", so "to avoid the scale issue, we use the normalized
weak classifiers to compute the diversity ... W_v ... are normalized in
Eq. (6)" (Sec. 3.2). Without it the penalty could be lowered by shrinking
every ``W_v`` rather than by making the classifiers different. *Which*
normalisation the paper does not say; emsm_np offers four (the first three from
the issue that specified the head; the fourth an emsm_np extension):

``"column"``    each class column ``w_k^v`` (d,) scaled to unit L2 norm (the default)
``"frobenius"`` ``W_v / ||W_v||_F``
``"none"``      ``W_v`` itself (no normalisation, unlike the paper: for comparison)
``"centered"``  ``W_v H / ||W_v H||_F`` (an emsm_np extension, see below)

Why ``"centered"``. Softmax ignores a shift common to every logit of a row, so
adding one vector ``c`` to every class column (``W_v + c 1^T``) changes neither
the cross-entropy nor the predictions. With ``"column"`` or ``"frobenius"`` it
does change ``D``: as ``||c||`` grows, every normalised column tends to
``c / ||c||``, the centred classifier ``W^_v H`` tends to zero, and so does
``D`` -- training can lower the penalty without making the classifiers any more
different (tutorial 03 shows it). ``"centered"`` removes the shift first
(``W_v H``, exactly the part of ``W_v`` that softmax sees) and then fixes the
scale, so neither a common shift nor a rescaling can reduce ``D``.

To avoid dividing by zero, the norm is clamped from below: ``r = max(||w||, eps)``
with ``eps = 1e-12`` (as ``torch.nn.functional.normalize``). A zero column
therefore maps to zero, with finite gradient ``g / eps``, instead of NaN.

Gradient, for ``w^ = w / r`` with ``r = ||w|| > eps``::

    dL/dw = ( g - w^ (w^ . g) ) / r          (projection onto the tangent space)

and ``dL/dw = g / eps`` where the clamp is active.

Nothing here checks its arguments: the heads and the public ``*_loss`` functions of
:mod:`emsm_np.losses` check them where they enter (the mode included).
"""
from collections import namedtuple

from ..backend import get_array_module

NORMALIZE_MODES = ("column", "frobenius", "none", "centered")
EPS = 1e-12

NormalizeCache = namedtuple("NormalizeCache", ["w_hat", "norm", "clamped", "axes", "centered"])


def _axes(mode):
    # column: the norm of each class column runs over the feature axis d (-2);
    # frobenius and centered: over both matrix axes of each classifier (d and K).
    return {"column": (-2,), "frobenius": (-2, -1), "centered": (-2, -1)}[mode]


def normalize_forward(W, mode="column", eps=EPS):
    """Normalise each classifier in ``W``.

    Parameters
    ----------
    W : (V, d, K) or (d, K) float array
    mode : "column" | "frobenius" | "none" | "centered"
    eps : float > 0, lower clamp of the norm

    Returns
    -------
    W_hat : array like ``W``
    cache : NormalizeCache (``None`` fields for mode "none")
    """
    xp = get_array_module(W)
    if mode == "none":
        return W, NormalizeCache(None, None, None, None, False)
    axes = _axes(mode)
    centered = mode == "centered"
    if centered:
        W = W - W.mean(axis=-1, keepdims=True)  # W H: remove the shift common to all classes
    norm = xp.sqrt((W * W).sum(axis=axes, keepdims=True))
    clamped = norm <= eps
    r = xp.maximum(norm, eps)
    w_hat = W / r
    return w_hat, NormalizeCache(w_hat, r, clamped, axes, centered)


def normalize_backward(dW_hat, cache):
    """Backpropagate through :func:`normalize_forward`.

    Parameters
    ----------
    dW_hat : array like ``W`` (same shape and device), gradient with respect
        to ``W_hat``
    cache : from :func:`normalize_forward`

    Returns
    -------
    dW : array like ``W``
    """
    xp = get_array_module(dW_hat)
    if cache.w_hat is None:  # mode "none": identity
        return dW_hat
    w_hat, r, clamped, axes, centered = cache
    radial = (w_hat * dW_hat).sum(axis=axes, keepdims=True)
    # Remove the radial component: rescaling w does not change w / ||w||.
    dW = (dW_hat - w_hat * xp.where(clamped, 0, radial)) / r
    if centered:  # back through W -> W H (H symmetric): centre the gradient too
        dW = dW - dW.mean(axis=-1, keepdims=True)
    return dW
