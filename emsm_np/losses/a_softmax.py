"""A-Softmax [Liu et al. 2017a, SphereFace] of Table 1: the function and the head.

The equations and the gradient are in :mod:`emsm_np.functional.a_softmax`: L-Softmax on
the column-normalised classifier, with the gradient through the normalisation.
The annealing of beta is the L-Softmax head's (:mod:`emsm_np.losses.l_softmax`).
"""
from ..functional.a_softmax import a_softmax_backward, a_softmax_forward
from ..functional.normalize import normalize_forward
from .l_softmax import LSoftmax, checked_angular_margin_loss

__all__ = ["a_softmax_loss", "ASoftmax"]


def a_softmax_loss(x, W, y, *, margin=4, beta=0.0):
    """A-Softmax loss and its gradients: the arguments, results and errors of
    :func:`emsm_np.losses.l_softmax_loss`, with every column of ``W`` normalised inside the
    loss (``dW`` through the normalisation; ``margin`` 1 is softmax on the normalised
    classifier, ``beta`` weighs the plain target logit ``||x|| cos(theta)``)."""
    return checked_angular_margin_loss(a_softmax_forward, a_softmax_backward, x, W, y, margin, beta)


class ASoftmax(LSoftmax):
    """The A-Softmax head: as :class:`~emsm_np.losses.l_softmax.LSoftmax` (same arguments,
    same annealing state), on the column-normalised ``W^``; default margin 4 (SphereFace's).

    Test time: logits ``x W^ = ||x|| cos(theta_j)``, no margin.
    """

    _forward_fn = staticmethod(a_softmax_forward)
    _backward_fn = staticmethod(a_softmax_backward)
    _default_margin = 4

    def _logits(self, x):
        w_hat, _ = normalize_forward(self.params["weight"], "column")
        return x @ w_hat
