"""``PReLU``: parametric ReLU over :mod:`emsm_np.functional.prelu` (through :mod:`emsm_np.ops`);
emsm_np's LiuNets use it (the EM-Softmax paper names no activation; the L-Softmax paper's text is
reported to use PReLU, its prototxts ReLU: docs/paper.md)."""
import numpy as np

from .._checks import check_dtype, check_float, check_int
from ..ops import prelu_backward, prelu_forward
from .base import Layer


class PReLU(Layer):
    """``x`` for x > 0, ``a * x`` otherwise, with learned slope(s) ``a``.

    Parameters
    ----------
    num_parameters : int >= 1; 1 for one shared slope, or C for one slope per
        channel (axis 1 of the input)
    init : float, initial slope (PyTorch's default 0.25)
    dtype : float32 (default) or float64

    Attributes
    ----------
    params["weight"] : (num_parameters,) slopes
    """

    def __init__(self, num_parameters=1, init=0.25, dtype=np.float32):
        super().__init__()
        self.num_parameters = check_int("num_parameters", num_parameters, minimum=1)
        init = check_float("init", init)
        dtype = check_dtype("dtype", dtype)
        self.params["weight"] = np.full(self.num_parameters, init, dtype=dtype)
        self.grads["weight"] = np.zeros_like(self.params["weight"])

    def forward(self, x, train=True):
        out, self._cache = prelu_forward(x, self.params["weight"])
        return out

    def backward(self, dy):
        dx, dweight = prelu_backward(dy, self._require_cache(), out=(self.grads["weight"],))
        return self._finish_backward(dx, weight=dweight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
