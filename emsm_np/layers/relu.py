"""``ReLU``: the rectified linear unit over :mod:`emsm_np.functional.relu` (through :mod:`emsm_np.ops`)."""
from ..ops import relu_backward, relu_forward
from .base import Layer


class ReLU(Layer):
    """``max(x, 0)`` elementwise; no parameters."""

    def forward(self, x, train=True):
        out, self._cache = relu_forward(x)
        return out

    def backward(self, dy):
        dx = relu_backward(dy, self._require_cache())
        self._cache = None
        return dx
