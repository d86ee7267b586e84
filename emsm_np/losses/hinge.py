"""HingeLoss [Tang 2013] of Table 1: the function and the head.

The equations and the gradient are in :mod:`emsm_np.functional.hinge`.
"""
import numpy as np

from .._checks import check_choice
from ..functional.hinge import HINGE_NORMS, hinge_backward, hinge_forward
from .linear_head import LinearHead, check_linear_inputs

__all__ = ["hinge_loss", "HingeLoss"]


def hinge_loss(x, W, y, *, norm="l1"):
    """Mean one-vs-rest hinge loss of ``x W`` and its gradients.

    Parameters
    ----------
    x : (n, d) float array, features (NumPy or CuPy)
    W : (d, K) float array, the classifier (same dtype and device as x)
    y : (n,) integer array, labels in [0, K)
    norm : "l1" (the default, as ``emsm train --hinge-norm`` and Caffe's HingeLoss layer) or
        "l2" (Tang's L2-SVM, squared violations)

    Returns
    -------
    loss : float, ``(1/n) sum_ik max(0, 1 - t_ik z_ik)^p``
    dx : (n, d) array
    dW : (d, K) array

    Raises
    ------
    TypeError, ValueError
        for malformed inputs, naming the argument.
    """
    check_linear_inputs(x, W, y)
    check_choice("norm", norm, HINGE_NORMS)
    loss, cache = hinge_forward(x, W, y, norm)
    dx, dW = hinge_backward(1.0, cache)
    return float(loss), dx, dW


class HingeLoss(LinearHead):
    """The hinge-loss head: ``W`` (d, K), one-vs-rest hinge on ``x W``; test logits ``x W``.

    Parameters as :class:`emsm_np.losses.linear_head.LinearHead`, and
    ``norm`` : "l1" (default, as :func:`hinge_loss`) or "l2" (Tang's L2-SVM).

    ``terms`` after each forward: ``"hinge"``, the loss (0-d).
    """

    def __init__(self, in_features, num_classes, norm="l1", dtype=np.float32, rng=None):
        super().__init__(in_features, num_classes, dtype, rng)
        self.norm = check_choice("norm", norm, HINGE_NORMS)

    def _forward(self, x, y, train):
        loss, cache = hinge_forward(x, self.params["weight"], y, self.norm)
        return loss, {"hinge": loss}, cache

    def _backward(self, dloss, cache):
        dx, dW = hinge_backward(dloss, cache)
        self.grads["weight"][...] = dW
        return dx

    def _logits(self, x):
        return x @ self.params["weight"]

    def extra_repr(self):
        return f"{super().extra_repr()}, norm={self.norm!r}"
