"""PReLU on the GPU: one fused kernel forward, one fused kernel and one sum backward.

The reference (:mod:`emsm_np.functional.prelu`) builds the local slope
``s = 1 where x > 0, else a`` as an array and multiplies by it; here the slope
is chosen inside the kernels::

    out      = x if x > 0 else a x                           one fused kernel
    dx       = dout if x > 0 else a dout                     } one fused kernel
    dweight  = sum over all but the channel axis of          }
               dout min(x, 0)                                + one sum
"""
from collections import namedtuple

from .._checks import check_like
from ..backend import get_array_module
from ..functional.prelu import slope_shape
from .fuse import fused

GpuPReluCache = namedtuple("GpuPReluCache", ["x", "weight"])
GpuPReluCache.__doc__ = "The input x and the slopes (not copies)."


@fused
def prelu_forward_kernel(xp):
    def kernel(x, a):
        return xp.where(x > 0, x, x * a)
    return kernel


@fused
def prelu_backward_kernel(xp):
    def kernel(dout, x, a):
        dx = xp.where(x > 0, dout, dout * a)
        per_position = dout * xp.minimum(x, 0)  # only the non-positive inputs were scaled by a
        return dx, per_position
    return kernel


def prelu_forward(x, weight):
    """As :func:`emsm_np.functional.prelu.prelu_forward`, for CuPy arrays: ``(out, GpuPReluCache)``."""
    xp = get_array_module(x)
    return prelu_forward_kernel(xp)(x, weight.reshape(slope_shape(x, weight))), GpuPReluCache(x, weight)


def prelu_backward(dout, cache, out=None):
    """``(dx like x, dweight like weight)``; ``out``: None, or ``(dweight,)``, an array that the slopes'
    gradient is written into (and returned)."""
    check_like(dout, cache.x)
    xp = get_array_module(dout)
    x, weight = cache
    dx, per_position = prelu_backward_kernel(xp)(dout, x, weight.reshape(slope_shape(x, weight)))
    dweight_out = None if out is None else out[0]
    if weight.shape[0] == 1:
        dweight = per_position.sum(out=None if dweight_out is None else dweight_out.reshape(()))
        dweight = dweight.reshape(weight.shape) if dweight_out is None else dweight_out
    else:
        dweight = per_position.sum(axis=(0,) + tuple(range(2, x.ndim)), out=dweight_out)
    return dx, dweight
