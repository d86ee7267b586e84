"""What the heads of the compared losses share: input checks and one linear classifier.

Table 1 of the paper compares EM-Softmax with five losses (HingeLoss, CenterLoss,
L-Softmax, A-Softmax, N-Softmax), each on one linear classifier ``W`` (d, K) without
bias. Their heads derive, as :class:`emsm_np.losses.EMSoftmax` does, from
:class:`emsm_np.losses.head.Head`, whose docstring states the interface by which a
:class:`emsm_np.models.Network` and the training loop take any of them; they read
as a single weak classifier: ``head.ensemble == 1``, ``head.weak_logits(x)``
(1, n, K) and ``head.diversity() == 0.0``.
"""
import numpy as np

from .._checks import (
    check_array,
    check_features_for_classifier,
    check_finite,
    check_int,
    check_same,
)
from .head import Head

__all__ = ["check_linear_inputs", "check_margin", "LinearHead"]


def check_linear_inputs(x, W, y=None):
    """Validate features x (n, d), a classifier W (d, K) and labels y (n,); name the argument."""
    check_array("x", x, ndim=2)
    check_array("W", W, ndim=2)
    check_same(("x", x), ("W", W))
    d, K = W.shape
    check_features_for_classifier(x, W, d, K, y)
    check_finite("x", x)
    check_finite("W", W)


def check_margin(margin):
    """The angular margin of L-/A-Softmax: a positive integer."""
    return check_int("margin", margin, minimum=1)


class LinearHead(Head):
    """Base of the compared losses' heads: a :class:`~emsm_np.losses.head.Head` on ``params["weight"]`` (d, K).

    Subclasses define ``_forward(x, y, train) -> (loss, terms, cache)``,
    ``_backward(dloss, cache) -> dx`` (filling ``grads``) and ``_logits(x)``.

    Parameters
    ----------
    in_features : int, d
    num_classes : int, K >= 2
    dtype : float32 (default) or float64
    rng : seed or numpy Generator; W is drawn from U(-1/sqrt(d), 1/sqrt(d)), as the
        EM-Softmax head's (PyTorch's Linear default)
    """

    def __init__(self, in_features, num_classes, dtype=np.float32, rng=None):
        super().__init__(in_features, num_classes)
        self._init_weight((self.in_features, self.num_classes), dtype, rng)

    def _check_inputs(self, x, y):
        check_linear_inputs(x, self.params["weight"], y)

    def logits(self, x):
        """Test-time logits (n, K), no margin."""
        check_linear_inputs(x, self.params["weight"])
        return self._logits(x)

    def weak_logits(self, x):
        """The logits as those of a single weak classifier: (1, n, K)."""
        return self.logits(x)[None]

    def diversity(self):
        """0.0: one classifier has no pair to be diverse from (as EMSoftmax with V = 1)."""
        return 0.0
