"""PReLU on the CPU: :mod:`emsm_np.functional.prelu` without ``where``, split between threads.

The same values as the reference (``tests/test_cpu_routes.py``). NumPy's ``where``
on a mask with no pattern runs about 10x slower than arithmetic, so the local
slope ``s`` (exactly 1 or a) is built from arithmetic: for slopes in [0, 1]
(the usual case) ``s = max([x > 0], a)``, two passes and no cast of a boolean
mask; other slopes take ``a [x <= 0] + [x > 0]``. The batch is split between
worker threads (:mod:`emsm_np.cpu.threads`); each piece returns its part of
``dL/da``, and the parts are added in piece order.
"""
import numpy as np

from ..functional.prelu import PReluCache, check_prelu_backward, slope_shape
from .threads import for_batch, sum_in_order


def prelu_forward(x, weight):
    """As :func:`emsm_np.functional.prelu.prelu_forward`, for NumPy arrays."""
    slope = weight.reshape(slope_shape(x, weight))
    usual = bool(((weight >= 0) & (weight <= 1)).all())  # the usual slopes (PyTorch's init: 0.25)
    out, local_slope = np.empty_like(x), np.empty_like(x)

    def part(s):
        xs, ls = x[s], local_slope[s]
        if usual:
            # [x > 0] as 0.0/1.0, then max with a: 1 stays 1 (a <= 1), 0 becomes a (a >= 0).
            np.greater(xs, 0, out=ls)
            np.maximum(ls, slope, out=ls)
        else:
            non_positive = xs <= 0
            np.multiply(non_positive, slope, out=ls)
            ls += ~non_positive  # exactly 1 where x > 0, exactly a elsewhere
        np.multiply(xs, ls, out=out[s])

    for_batch(np, x, part)
    return out, PReluCache(x, local_slope, weight.shape)


def prelu_backward(dout, cache):
    """As :func:`emsm_np.functional.prelu.prelu_backward`, for NumPy arrays."""
    check_prelu_backward(dout, cache)
    x, local_slope, weight_shape = cache
    dx = np.empty(dout.shape, dtype=np.result_type(dout, local_slope))
    zero = np.zeros((), dtype=x.dtype)

    def part(s):  # a slice of the batch: its dx, and its part of dL/da
        np.multiply(dout[s], local_slope[s], out=dx[s])
        x_neg = np.minimum(x[s], zero)
        if weight_shape[0] == 1:
            return np.vdot(dout[s].ravel(), x_neg.ravel()).reshape(weight_shape)
        n, C = x_neg.shape[:2]
        return np.einsum("ncs,ncs->c", dout[s].reshape(n, C, -1), x_neg.reshape(n, C, -1))

    dweight = sum_in_order(for_batch(np, x, part))
    return dx, dweight.astype(dout.dtype, copy=False)
