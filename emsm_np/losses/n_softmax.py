"""N-Softmax [Wang et al. 2017a, NormFace] of Table 1: the function and the head.

The equations and the gradient are in :mod:`emsm_np.functional.n_softmax`.
"""
import numpy as np

from .._checks import check_float
from ..functional.n_softmax import n_softmax_backward, n_softmax_forward
from ..functional.normalize import normalize_forward
from .linear_head import LinearHead, check_linear_inputs

__all__ = ["n_softmax_loss", "NSoftmax"]


def n_softmax_loss(x, W, y, *, scale=16.0, learn_scale=False):
    """N-Softmax loss (softmax cross-entropy of ``scale * cos``) and its gradients.

    Parameters
    ----------
    x : (n, d) float array, features (NumPy or CuPy)
    W : (d, K) float array, the classifier (same dtype and device as x)
    y : (n,) integer array, labels in [0, K)
    scale : float > 0, the scale s of the cosines
    learn_scale : bool; True adds ``dL/ds`` to the results

    Returns
    -------
    ``(loss, dx, dW)``, or ``(loss, dx, dW, dscale)`` with ``learn_scale=True``:
    loss : float; dx : (n, d) array; dW : (d, K) array, both through the normalisations;
    dscale : float, ``sum_ij dL/df_ij cos_ij``

    Raises
    ------
    TypeError, ValueError
        for malformed inputs, naming the argument.
    """
    check_linear_inputs(x, W, y)
    scale = check_float("scale", scale, minimum=0.0, min_inclusive=False)
    if not isinstance(learn_scale, bool):
        raise TypeError(f"learn_scale must be True or False, got {learn_scale!r}")
    loss, cache = n_softmax_forward(x, W, y, scale)
    dx, dW, dscale = n_softmax_backward(1.0, cache)
    if learn_scale:
        return float(loss), dx, dW, float(dscale)
    return float(loss), dx, dW


class NSoftmax(LinearHead):
    """The N-Softmax head: features and columns of ``W`` normalised, logits ``s cos``.

    Parameters
    ----------
    in_features, num_classes, dtype, rng : as :class:`emsm_np.losses.linear_head.LinearHead`
    scale : float > 0, s (default 16; its initial value when learned)
    learn_scale : bool; True makes s a parameter, ``params["scale"]`` (0-d), trained by
        the optimiser with its gradient ``grads["scale"]`` and spared by weight decay
        (``no_decay``); False keeps it fixed at ``scale``

    ``terms`` after each forward: ``"ce"`` (0-d). Test time: logits ``s x^ W^``
    (the prediction is the class of largest cosine).
    """

    def __init__(self, in_features, num_classes, scale=16.0, learn_scale=False, dtype=np.float32, rng=None):
        super().__init__(in_features, num_classes, dtype, rng)
        scale = check_float("scale", scale, minimum=0.0, min_inclusive=False)
        if not isinstance(learn_scale, bool):
            raise TypeError(f"learn_scale must be True or False, got {learn_scale!r}")
        self.learn_scale = learn_scale
        if learn_scale:
            self.params["scale"] = np.array(scale, dtype=self.params["weight"].dtype)
            self.grads["scale"] = np.zeros_like(self.params["scale"])
            self.no_decay = ("scale",)
        self._fixed_scale = scale

    @property
    def scale(self):
        """s: the 0-d parameter when learned (on the head's device), else the fixed float."""
        return self.params["scale"] if self.learn_scale else self._fixed_scale

    def _forward(self, x, y, train):
        loss, cache = n_softmax_forward(x, self.params["weight"], y, self.scale)
        return loss, {"ce": loss}, cache

    def _backward(self, dloss, cache):
        dx, dW, dscale = n_softmax_backward(dloss, cache)
        self.grads["weight"][...] = dW
        if self.learn_scale:
            self.grads["scale"][...] = dscale
        return dx

    def _logits(self, x):
        x_hat_t, _ = normalize_forward(x.T, "column")
        w_hat, _ = normalize_forward(self.params["weight"], "column")
        return self.scale * (x_hat_t.T @ w_hat)

    def extra_repr(self):
        return f"{super().extra_repr()}, scale={self._fixed_scale}, learn_scale={self.learn_scale}"
