"""``BatchNorm1d`` and ``BatchNorm2d`` over :mod:`emsm_np.functional.batch_norm`.

PyTorch's semantics: train mode normalises with the batch statistics and moves
the running statistics towards them (unbiased variance, weight ``momentum``);
``train=False`` normalises with the running statistics.
"""
import numpy as np

from .._checks import check_array, check_dtype, check_float, check_int
from ..ops import batch_norm_backward, batch_norm_forward
from .base import Layer


class _BatchNorm(Layer):
    """Shared body; subclasses set ``_ndim`` and ``_layout`` (the expected input)."""

    _ndim = None
    _layout = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__()
        self.num_features = check_int("num_features", num_features, minimum=1)
        self.eps = check_float("eps", eps, minimum=0.0, min_inclusive=False)
        self.momentum = check_float("momentum", momentum, minimum=0.0, maximum=1.0)
        dtype = check_dtype("dtype", dtype)
        C = self.num_features
        self.params["weight"] = np.ones(C, dtype=dtype)   # gamma
        self.params["bias"] = np.zeros(C, dtype=dtype)    # beta
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers["running_mean"] = np.zeros(C, dtype=dtype)
        self.buffers["running_var"] = np.ones(C, dtype=dtype)

    def forward(self, x, train=True):
        """Normalise per channel; in train mode also update the running statistics."""
        check_array("x", x)
        if x.ndim != self._ndim:
            raise ValueError(
                f"{type(self).__name__} expects x of shape {self._layout}, "
                f"got shape {tuple(x.shape)} ({x.ndim}-D)"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"x must have {self.num_features} channels (num_features) in dim 1, "
                f"got shape {tuple(x.shape)}"
            )
        # In train mode the new running statistics go into the existing buffers (running_out), so
        # that anyone holding them sees the update.
        buffers = (self.buffers["running_mean"], self.buffers["running_var"])
        out, self._cache, _ = batch_norm_forward(
            x, self.params["weight"], self.params["bias"], *buffers,
            train=bool(train), momentum=self.momentum, eps=self.eps, running_out=buffers,
        )
        return out

    def backward(self, dy):
        """Fill ``grads["weight"]`` (dgamma) and ``grads["bias"]`` (dbeta); return dL/dx."""
        dx, dgamma, dbeta = batch_norm_backward(dy, self._require_cache(),
                                                out=(self.grads["weight"], self.grads["bias"]))
        return self._finish_backward(dx, weight=dgamma, bias=dbeta)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over features: x of shape (N, C), statistics over N.

    Parameters
    ----------
    num_features : int, C
    eps : float > 0, added to the variance
    momentum : float in [0, 1], weight of the batch statistics in the running update
    dtype : float32 (default) or float64

    Attributes
    ----------
    params["weight"], params["bias"] : (C,), gamma (ones) and beta (zeros)
    buffers["running_mean"], buffers["running_var"] : (C,), zeros and ones
    """

    _ndim = 2
    _layout = "(N, C)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over channels: x of shape (N, C, H, W), statistics over N, H and W.

    Parameters and attributes as :class:`BatchNorm1d`.
    """

    _ndim = 4
    _layout = "(N, C, H, W)"
