"""What the heads of the compared losses share: input checks and the head contract.

Table 1 of the paper compares EM-Softmax with five losses (HingeLoss, CenterLoss,
L-Softmax, A-Softmax, N-Softmax), each on one linear classifier ``W`` (d, K) without
bias. Their heads keep the interface of :class:`emsm_np.losses.EMSoftmax`, so that a
:class:`emsm_np.models.Network` and the training loop take any of them:

- ``loss = head.forward(x, y, train=True)``: a 0-d array on x's device (nothing is
  copied to the host); ``head.terms`` holds the loss's parts;
- ``dx = head.backward(dloss=1.0)``: fills ``head.grads`` (the keys of ``head.params``);
- ``head.logits(x)`` (n, K) and ``head.predict(x)`` (n,) at test time, without margin;
- ``head.ensemble == 1``, ``head.weak_logits(x)`` (1, n, K) and ``head.diversity() == 0.0``,
  so that evaluation and the metrics of the loop read them as one weak classifier;
- ``head.no_decay``: names in ``params`` that weight decay must spare
  (:meth:`emsm_np.models.Network.no_decay` adds them);
- non-SGD state in ``head.buffers`` (centres, the annealing counter): saved and
  restored by ``state_dict``/``load_state_dict`` with the parameters, as batch-norm
  running statistics are, and never seen by the optimiser, which reads only
  ``params``/``grads``.
"""
import numpy as np

from .._checks import (
    check_array,
    check_features_for_classifier,
    check_dtype,
    check_finite,
    check_int,
    check_same,
)
from ..layers.base import Layer, default_rng
from ..layers.init import uniform_init

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


class LinearHead(Layer):
    """Base of the compared losses' heads: ``params["weight"]`` (d, K) and the head contract.

    Subclasses define ``_forward(x, y, train) -> (loss, terms, cache)``,
    ``_backward(cache, dloss) -> dx`` (filling ``grads``) and ``_logits(x)``.

    Parameters
    ----------
    in_features : int, d
    num_classes : int, K >= 2
    dtype : float32 (default) or float64
    rng : seed or numpy Generator; W is drawn from U(-1/sqrt(d), 1/sqrt(d)), as the
        EM-Softmax head's (PyTorch's Linear default)
    """

    ensemble = 1
    no_decay = ()

    def __init__(self, in_features, num_classes, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.num_classes = check_int("num_classes", num_classes, minimum=2)
        dtype = check_dtype("dtype", dtype)
        bound = 1.0 / np.sqrt(self.in_features)
        shape = (self.in_features, self.num_classes)
        self.params["weight"] = uniform_init(default_rng(rng), bound, shape, dtype)
        self.grads["weight"] = np.zeros_like(self.params["weight"])
        self.terms = {}

    def forward(self, x, y, train=True):
        """The training loss for features x (n, d) and labels y (n,): a 0-d array on x's device."""
        check_linear_inputs(x, self.params["weight"], y)
        loss, self.terms, self._cache = self._forward(x, y, bool(train))
        return loss

    def backward(self, dloss=1.0):
        """Fill ``grads`` and return dL/dx (n, d)."""
        dx = self._backward(self._require_cache(), dloss)
        self._cache = None
        return dx

    def logits(self, x):
        """Test-time logits (n, K), no margin."""
        check_linear_inputs(x, self.params["weight"])
        return self._logits(x)

    def predict(self, x):
        """Predicted class (n,)."""
        return self.logits(x).argmax(axis=1)

    def weak_logits(self, x):
        """The logits as those of a single weak classifier: (1, n, K)."""
        return self.logits(x)[None]

    def diversity(self):
        """0.0: one classifier has no pair to be diverse from (as EMSoftmax with V = 1)."""
        return 0.0

    def extra_repr(self):
        return f"in_features={self.in_features}, num_classes={self.num_classes}"
