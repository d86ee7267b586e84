"""``Linear``: a fully connected layer over :mod:`emsm_np.functional.linear`.

The weight is (in_features, out_features), the paper's ``W`` in R^{d x K}, so
``out = x @ W + b`` (PyTorch stores the transpose).
"""
import numpy as np

from .._checks import check_dtype, check_int
from ..ops import linear_backward, linear_forward
from .base import Layer, default_rng
from .init import uniform_init


class Linear(Layer):
    """``out = x @ weight + bias`` for x of shape (N, in_features).

    Parameters
    ----------
    in_features, out_features : int >= 1
    bias : bool, whether to learn an additive bias
    dtype : float32 (default) or float64
    rng : seed or numpy Generator; weight, then bias, are drawn on the CPU from
        U(-1/sqrt(in_features), 1/sqrt(in_features)) (PyTorch's default)

    Attributes
    ----------
    params["weight"] : (in_features, out_features)
    params["bias"] : (out_features,), when ``bias`` is True
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.out_features = check_int("out_features", out_features, minimum=1)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        dtype = check_dtype("dtype", dtype)
        gen = default_rng(rng)
        bound = 1.0 / np.sqrt(self.in_features)
        self.params["weight"] = uniform_init(gen, bound, (self.in_features, self.out_features), dtype)
        if bias:
            self.params["bias"] = uniform_init(gen, bound, self.out_features, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x, train=True):
        """(N, in_features) -> (N, out_features)."""
        out, self._cache = linear_forward(x, self.params["weight"], self.params.get("bias"))
        return out

    def backward(self, dy):
        """Fill ``grads`` (in place) and return dL/dx (N, in_features)."""
        dx, dweight, dbias = linear_backward(dy, self._require_cache(),
                                             out=(self.grads["weight"], self.grads.get("bias")))
        return self._finish_backward(dx, weight=dweight, bias=dbias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={'bias' in self.params}"
