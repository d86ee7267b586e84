"""ReLU on the GPU: one fused kernel each way.

The reference (:mod:`emsm_np.functional.relu`) keeps the mask ``x > 0`` (one
more kernel and a boolean array); here the cache is ``x`` itself and the mask is
recomputed inside the backward's kernel::

    out = max(x, 0)                   one ufunc call
    dx  = dout [x > 0]                one fused kernel
"""
from collections import namedtuple

from .._checks import check_like
from ..backend import get_array_module
from .fuse import fused

GpuReluCache = namedtuple("GpuReluCache", ["x"])
GpuReluCache.__doc__ = "The input x (not a copy)."


@fused
def relu_backward_kernel(xp):
    def kernel(dout, x):
        return dout * (x > 0)  # PyTorch's rule: no gradient at x = 0
    return kernel


def relu_forward(x):
    """As :func:`emsm_np.functional.relu.relu_forward`, for CuPy arrays: ``(max(x, 0), GpuReluCache)``."""
    return get_array_module(x).maximum(x, 0), GpuReluCache(x)


def relu_backward(dout, cache):
    """``dx = dout [x > 0]`` like x."""
    check_like(dout, cache.x)
    return relu_backward_kernel(get_array_module(dout))(dout, cache.x)
