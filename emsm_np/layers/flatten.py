"""``Flatten``: (N, C, H, W) feature maps to (N, C*H*W) vectors before the FC layers."""
import math

from .._checks import check_array, check_like
from .base import Layer


class Flatten(Layer):
    """Reshape (N, d1, d2, ...) to (N, d1*d2*...); backward reshapes back."""

    def forward(self, x, train=True):
        check_array("x", x, floating=False)
        if x.ndim < 2:
            raise ValueError(f"x must be at least 2-D (N, ...), got shape {tuple(x.shape)} ({x.ndim}-D)")
        self._cache = tuple(x.shape)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, dy):
        shape = self._require_cache()
        check_like(dy, None, (shape[0], math.prod(shape[1:])), name="dy")
        self._cache = None
        return dy.reshape(shape)
