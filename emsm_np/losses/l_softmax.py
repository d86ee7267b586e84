"""L-Softmax [Liu et al. 2016] of Table 1: the function, the annealing of beta, and the head.

The equations and the gradient are in :mod:`emsm_np.functional.l_softmax` and
:mod:`emsm_np.functional.large_margin_logits`; ``psi`` in
:mod:`emsm_np.functional.angular_margin`.

Annealing. The margin alone makes L-Softmax hard to train from scratch; its code
mixes in the plain logit with a weight ``beta`` (the code's ``lambda``) that decays
with the iteration ``it`` of training::

    beta(it) = max(beta_min, base * (1 + gamma * it)^(-power))

:data:`L_SOFTMAX_SCHEDULE` holds the values of the L-Softmax MNIST prototxt (base 1000,
gamma 2.5e-5, power 35, beta_min 0: beta is below 1 after about 8,700 iterations). That
prototxt trains m = 4 with them (``type: QUADRUPLE``); its CIFAR-10 prototxt trains m = 2
with gamma 2e-5 and power 45. The head's default pairing, m = 2 with the MNIST schedule,
is emsm_np's. :data:`SPHEREFACE_SCHEDULE` holds those of SphereFace's (base 1000, gamma 0.12, power 1,
beta_min 5). The Caffe layers count their forward passes and add one before computing
beta, so the first training step uses ``it = 1``; the heads do the same.
"""
from collections import namedtuple

import numpy as np

from .._checks import check_float
from ..backend import asnumpy
from ..functional.l_softmax import l_softmax_backward, l_softmax_forward
from .linear_head import LinearHead, check_linear_inputs, check_margin

__all__ = ["l_softmax_loss", "LSoftmax", "BetaSchedule", "beta_schedule",
           "L_SOFTMAX_SCHEDULE", "SPHEREFACE_SCHEDULE"]

BetaSchedule = namedtuple("BetaSchedule", ["base", "gamma", "power", "beta_min"])
BetaSchedule.__doc__ = "Parameters of :func:`beta_schedule`; a head given one anneals beta."

L_SOFTMAX_SCHEDULE = BetaSchedule(base=1000.0, gamma=2.5e-5, power=35.0, beta_min=0.0)
SPHEREFACE_SCHEDULE = BetaSchedule(base=1000.0, gamma=0.12, power=1.0, beta_min=5.0)


def beta_schedule(iteration, base=1000.0, gamma=2.5e-5, power=35.0, beta_min=0.0):
    """``max(beta_min, base * (1 + gamma * iteration)^(-power))`` as a float (defaults: L-Softmax's)."""
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    return max(float(beta_min), float(base) * (1.0 + float(gamma) * iteration) ** (-float(power)))


def check_beta(beta):
    """A number >= 0, or a :class:`BetaSchedule` of four numbers (base, gamma, power >= 0)."""
    if isinstance(beta, BetaSchedule):
        for name, value in beta._asdict().items():
            check_float(f"beta.{name}", value, minimum=0.0)
        return beta
    if isinstance(beta, tuple):
        raise TypeError(f"beta must be a number or a BetaSchedule(base, gamma, power, beta_min), got the tuple {beta!r}")
    return check_float("beta", beta, minimum=0.0)


def l_softmax_loss(x, W, y, *, margin=2, beta=0.0):
    """L-Softmax loss and its gradients.

    Parameters
    ----------
    x : (n, d) float array, features (NumPy or CuPy)
    W : (d, K) float array, the classifier (same dtype and device as x)
    y : (n,) integer array, labels in [0, K)
    margin : int >= 1, the angular margin m (1: plain softmax)
    beta : float >= 0, weight of the plain target logit (0: the pure margin)

    Returns
    -------
    loss : float; dx : (n, d) array; dW : (d, K) array

    Raises
    ------
    TypeError, ValueError
        for malformed inputs, naming the argument.
    """
    return checked_angular_margin_loss(l_softmax_forward, l_softmax_backward, x, W, y, margin, beta)


def checked_angular_margin_loss(forward, backward, x, W, y, margin, beta):
    """Check the inputs of an angular-margin loss (L- or A-Softmax), then run its pair once:
    ``(float loss, dx, dW)``."""
    check_linear_inputs(x, W, y)
    margin = check_margin(margin)
    beta = check_float("beta", beta, minimum=0.0)
    loss, cache = forward(x, W, y, margin, beta)
    dx, dW = backward(1.0, cache)
    return float(loss), dx, dW


class LSoftmax(LinearHead):
    """The L-Softmax head: ``W`` (d, K), the large-margin target logit, softmax cross-entropy.

    Parameters
    ----------
    in_features, num_classes, dtype, rng : as :class:`emsm_np.losses.linear_head.LinearHead`
    margin : int >= 1, the angular margin m (default 2)
    beta : float >= 0 (fixed), or a :class:`BetaSchedule` (annealed with the number of
        training forwards, e.g. :data:`L_SOFTMAX_SCHEDULE`)

    State. ``buffers["iteration"]``: the number of training forwards so far (0-d int64),
    saved and restored by ``state_dict`` with the parameters, so that a resumed run
    anneals on from where it stopped. It stays on the host (``to`` leaves it there):
    beta is a host number, and reading a device counter would stall every step.
    ``current_beta`` is the beta of the last forward; ``terms``: ``"ce"`` (0-d) and
    ``"beta"`` (float). Test time: logits without margin.
    """

    _forward_fn = staticmethod(l_softmax_forward)
    _backward_fn = staticmethod(l_softmax_backward)
    _default_margin = 2

    def __init__(self, in_features, num_classes, margin=None, beta=0.0, dtype=np.float32, rng=None):
        super().__init__(in_features, num_classes, dtype, rng)
        self.margin = check_margin(self._default_margin if margin is None else margin)
        self.beta = check_beta(beta)
        self.buffers["iteration"] = np.zeros((), dtype=np.int64)
        self.current_beta = self.beta_at(0)

    def beta_at(self, iteration):
        """beta at a training forward ``iteration`` (fixed, or from the schedule)."""
        if isinstance(self.beta, BetaSchedule):
            return beta_schedule(iteration, *self.beta)
        return self.beta

    def _forward(self, x, y, train):
        it = int(self.buffers["iteration"])
        if train:  # count the forward first, as the Caffe layers do
            it += 1
            self.buffers["iteration"][...] = it
        self.current_beta = self.beta_at(it)
        loss, cache = self._forward_fn(x, self.params["weight"], y, self.margin, self.current_beta)
        return loss, {"ce": loss, "beta": self.current_beta}, cache

    def _backward(self, dloss, cache):
        dx, dW = self._backward_fn(dloss, cache)
        self.grads["weight"][...] = dW
        return dx

    def _logits(self, x):
        return x @ self.params["weight"]

    def to(self, device):
        super().to(device)
        self.buffers["iteration"] = asnumpy(self.buffers["iteration"])  # a host counter
        return self

    def extra_repr(self):
        return f"{super().extra_repr()}, margin={self.margin}, beta={self.beta!r}"


