"""CenterLoss [Wen et al. 2016] of Table 1: the function and the head (softmax + lam * center loss).

The equations, the gradient and Wen's update rule for the centres are in
:mod:`emsm_np.functional.center_loss`.
"""
import numpy as np

from .._checks import check_array, check_features, check_finite, check_float, check_same
from ..functional.center_loss import center_delta, center_loss_backward, center_loss_forward
from ..functional.margin_cross_entropy import margin_cross_entropy_backward, margin_cross_entropy_forward
from .linear_head import LinearHead

__all__ = ["center_loss", "CenterLoss"]


def check_center_inputs(x, y, centers):
    """Validate features x (n, d), labels y (n,) and centres (K, d); name the argument."""
    check_array("x", x, ndim=2)
    check_array("centers", centers, ndim=2)
    check_same(("x", x), ("centers", centers))
    K, d = centers.shape
    if K < 1:
        raise ValueError(f"centers must hold at least one class centre (K >= 1), got shape {tuple(centers.shape)}")
    check_features(x, d, "centers", centers, y, K, verb="has")
    check_finite("x", x)
    check_finite("centers", centers)


def center_loss(x, y, centers):
    """Center loss, its feature gradient and Wen's centre step.

    Parameters
    ----------
    x : (n, d) float array, features (NumPy or CuPy)
    y : (n,) integer array, labels in [0, K)
    centers : (K, d) float array, the class centres (same dtype and device as x)

    Returns
    -------
    loss : float, ``1/(2n) sum_i ||x_i - c_{y_i}||^2``
    dx : (n, d) array, ``(x_i - c_{y_i}) / n``
    delta_centers : (K, d) array, Wen's ``delta_c_j = sum_{i: y_i=j} (c_j - x_i) / (1 + n_j)``;
        the caller moves the centres by ``centers -= alpha * delta_centers``

    Raises
    ------
    TypeError, ValueError
        for malformed inputs, naming the argument.
    """
    check_center_inputs(x, y, centers)
    loss, cache = center_loss_forward(x, y, centers)
    dx, _ = center_loss_backward(1.0, cache)
    return float(loss), dx, center_delta(cache)


class CenterLoss(LinearHead):
    """Softmax cross-entropy of ``x W`` plus ``lam`` times the center loss (Wen Eq. 5).

    Parameters
    ----------
    in_features, num_classes, dtype, rng : as :class:`emsm_np.losses.linear_head.LinearHead`
    lam : float >= 0, weight of the center loss (Wen's lambda; default 0.003, his face
        recognition setting)
    alpha : float in [0, 1], the centres' step (Wen's alpha; default 0.5, likewise);
        0 freezes them

    State. ``params["weight"]`` (d, K) is trained by the optimiser. The centres are
    ``buffers["centers"]`` (K, d), zeros at first (Wen's paper does not say; zeros
    put every centre at the origin, and the first steps move each to its class mean):
    the optimiser never sees them, and ``state_dict`` saves them with the parameters,
    as it saves batch-norm running statistics.

    Training step. ``forward(x, y)`` computes the loss with the current centres;
    ``backward()`` fills ``grads["weight"]``, returns dL/dx, and then moves the
    centres by Wen's rule ``c <- c - alpha delta_c`` with ``delta_c`` from that batch
    (Wen Algorithm 1: the centres step after the gradients, with the step the forward
    pass saw). A forward with ``train=False`` leaves the centres where they are.
    ``alpha`` is fixed, as in Wen's paper; it does not follow the learning-rate
    schedule (his released Caffe layer writes ``delta_c`` into the centres' gradient and
    leaves the step to the solver, so there it is scaled by the learning rate).

    ``terms`` after each forward: ``"ce"`` and ``"center"`` (L_C, before lam), 0-d.
    Test time: logits ``x W``; the centres play no part.
    """

    def __init__(self, in_features, num_classes, lam=0.003, alpha=0.5, dtype=np.float32, rng=None):
        super().__init__(in_features, num_classes, dtype, rng)
        self.lam = check_float("lam", lam, minimum=0.0)
        self.alpha = check_float("alpha", alpha, minimum=0.0, maximum=1.0)
        W = self.params["weight"]
        self.buffers["centers"] = np.zeros((self.num_classes, self.in_features), dtype=W.dtype)

    def _check_inputs(self, x, y):
        super()._check_inputs(x, y)
        check_same(("x", x), ("centers", self.buffers["centers"]))

    def _forward(self, x, y, train):
        centers = self.buffers["centers"]
        ce, ccache = margin_cross_entropy_forward(x @ self.params["weight"], y, 0.0)
        lc, kcache = center_loss_forward(x, y, centers)
        loss = ce + self.lam * lc  # Wen Eq. 5
        return loss, {"ce": ce, "center": lc}, (x, ccache, kcache, train)

    def _backward(self, dloss, cache):
        x, ccache, kcache, train = cache
        W = self.params["weight"]
        dz = margin_cross_entropy_backward(dloss, ccache)
        dx_center, _ = center_loss_backward(dloss * self.lam, kcache)
        self.grads["weight"][...] = x.T @ dz
        if train and self.alpha > 0:  # Wen's rule, in place: whoever holds the buffer sees it
            self.buffers["centers"][...] -= self.alpha * center_delta(kcache)
        return (dz @ W.T + dx_center).astype(x.dtype, copy=False)

    def _logits(self, x):
        return x @ self.params["weight"]

    def extra_repr(self):
        return f"{super().extra_repr()}, lam={self.lam}, alpha={self.alpha}"
