"""The loss heads' base, ``Head``, and ``EMSoftmax``: the head that owns the weak classifiers.

Training: ``loss = head.forward(x, y)`` then ``dx = head.backward()``;
``head.grads["weight"]`` then holds dL/dW (V, d, K). Testing:
``head.predict(x)`` uses the averaged classifier ``mean_v W_v`` (no margin);
``head.weak_logits(x)`` gives every weak classifier's logits, to measure
diversity. See :mod:`emsm_np.losses.em_softmax` for the equations.
"""
import numpy as np

from .._checks import check_choice, check_dtype, check_float, check_int, check_same_device
from ..functional.normalize import NORMALIZE_MODES
from ..layers.base import Layer, default_rng
from ..layers.init import uniform_init
from .em_softmax import (
    HSIC_GRADIENTS,
    check_head_inputs,
    diversity,
    em_softmax_backward,
    em_softmax_forward,
    ensemble_logits,
    weak_logits,
)


class Head(Layer):
    """Base of every loss head: a layer from features (n, d) to a loss over K classes.

    Its interface is what a :class:`emsm_np.models.Network` and the training loop use,
    so that they take any head (EM-Softmax and the compared losses of Table 1):

    - ``loss = head.forward(x, y, train=True)``: a 0-d array on x's device (nothing is
      copied to the host); ``head.terms`` holds the loss's parts;
    - ``dx = head.backward(dloss=1.0)``: fills ``head.grads`` (the keys of ``head.params``);
      ``dloss`` a number or a 0-d array on the head's device;
    - ``head.logits(x)`` (n, K) and ``head.predict(x)`` (n,) at test time, without margin;
    - ``head.ensemble`` (V, 1 unless the head has several weak classifiers),
      ``head.weak_logits(x)`` (V, n, K) and ``head.diversity()``, read by evaluation
      and the metrics of the loop;
    - ``head.no_decay``: names in ``params`` that weight decay must spare
      (:meth:`emsm_np.models.Network.no_decay` adds them);
    - non-SGD state in ``head.buffers`` (centres, the annealing counter): saved and
      restored by ``state_dict``/``load_state_dict`` with the parameters, as batch-norm
      running statistics are, and never seen by the optimiser, which reads only
      ``params``/``grads``.

    A subclass calls ``Head.__init__(in_features, num_classes)``, then
    ``_init_weight`` with the shape of its classifier, and defines
    ``_check_inputs(x, y)`` (the checks of the data where it enters: ``forward`` calls it, and
    ``_forward`` then checks nothing), ``_forward(x, y, train) -> (loss, terms, cache)``,
    ``_backward(dloss, cache) -> dx`` (filling ``grads``), ``logits``, ``weak_logits`` and
    ``diversity``.
    """

    ensemble = 1
    no_decay = ()

    def __init__(self, in_features, num_classes):
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.num_classes = check_int("num_classes", num_classes, minimum=2)
        self.terms = {}

    def _init_weight(self, shape, dtype, rng):
        """``params["weight"]`` of ``shape`` drawn from U(-1/sqrt(d), 1/sqrt(d)) (PyTorch's
        Linear default), its gradient zero."""
        dtype = check_dtype("dtype", dtype)
        bound = 1.0 / np.sqrt(self.in_features)
        self.params["weight"] = uniform_init(default_rng(rng), bound, shape, dtype)
        self.grads["weight"] = np.zeros_like(self.params["weight"])

    def forward(self, x, y, train=True):
        """The training loss for features x (n, d) and labels y (n,): a 0-d array on x's device."""
        self._check_inputs(x, y)
        loss, self.terms, self._cache = self._forward(x, y, bool(train))
        return loss

    def backward(self, dloss=1.0):
        """Fill ``grads`` and return dL/dx (n, d)."""
        cache = self._require_cache()
        check_same_device(("dloss", dloss), ("weight", self.params["weight"]))
        dx = self._backward(dloss, cache)
        self._cache = None
        return dx

    def predict(self, x):
        """Predicted class (n,)."""
        return self.logits(x).argmax(axis=1)

    def extra_repr(self):
        return f"in_features={self.in_features}, num_classes={self.num_classes}"


class EMSoftmax(Head):
    """Ensemble soft-margin softmax head (Softmax / M-Softmax / E-Softmax / EM-Softmax).

    Parameters
    ----------
    in_features : int, feature dimension d
    num_classes : int, K >= 2
    ensemble : int, number of weak classifiers V >= 1
    margin : float >= 0, soft margin m (Eq. 4)
    lam : float >= 0, weight of the HSIC diversity term (Eq. 8)
    normalize : "column" | "frobenius" | "none" | "centered", normalisation inside the HSIC term
    hsic_gradient : "exact" (default, the derivative of the loss) or "paper" (the paper's
        stated ``lam W_v K_v``; the loss value is the same): see :mod:`emsm_np.losses.em_softmax`
    dtype : float32 (default) or float64
    rng : seed or numpy Generator for the initialisation; each W_v is drawn
        independently from U(-1/sqrt(d), 1/sqrt(d)) (PyTorch's Linear default)

    Attributes
    ----------
    params["weight"] : (V, d, K) array
    terms : dict after each forward, ``"ce"`` (V,) per-classifier cross-entropy
        and ``"diversity"`` the HSIC term D (0-d), arrays on the features' device
    """

    def __init__(self, in_features, num_classes, ensemble=1, margin=0.0, lam=0.0,
                 normalize="column", dtype=np.float32, rng=None, hsic_gradient="exact"):
        super().__init__(in_features, num_classes)
        self.ensemble = check_int("ensemble", ensemble, minimum=1)
        self.margin = check_float("margin", margin, minimum=0.0)
        self.lam = check_float("lam", lam, minimum=0.0)
        self.normalize = check_choice("normalize", normalize, NORMALIZE_MODES)
        self.hsic_gradient = check_choice("hsic_gradient", hsic_gradient, HSIC_GRADIENTS)
        self._init_weight((self.ensemble, self.in_features, self.num_classes), dtype, rng)

    # forward(x, y) is the loss ``sum_v CE_v + lam D`` (Eq. 8), backward() dL/dx (Eq. 9).

    def _check_inputs(self, x, y):
        check_head_inputs(x, self.params["weight"], y, self.margin, self.lam, self.normalize,
                          self.hsic_gradient)

    def _forward(self, x, y, train):
        return em_softmax_forward(x, self.params["weight"], y, self.margin, self.lam, self.normalize,
                                  self.hsic_gradient)

    def _backward(self, dloss, cache):
        """Store dL/dW in ``grads["weight"]`` and return dL/dx (n, d) (Eq. 9)."""
        dx, dW = em_softmax_backward(dloss, cache)
        self.grads["weight"][...] = dW
        return dx

    def logits(self, x):
        """Test-time logits (n, K) of the averaged classifier ``mean_v W_v``, no margin."""
        return ensemble_logits(x, self.params["weight"])

    def weak_logits(self, x):
        """Logits (V, n, K) of each weak classifier."""
        return weak_logits(x, self.params["weight"])

    def diversity(self):
        """The HSIC diversity D (Eq. 6) of the current classifiers, as a float."""
        return diversity(self.params["weight"], self.normalize)

    def extra_repr(self):
        return (f"{super().extra_repr()}, "
                f"ensemble={self.ensemble}, margin={self.margin}, lam={self.lam}, "
                f"normalize={self.normalize!r}, hsic_gradient={self.hsic_gradient!r}")
