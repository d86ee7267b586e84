"""Linear layer on the CPU: :mod:`emsm_np.functional.linear` in row pieces on worker threads.

The same sums as the reference (``tests/test_cpu_routes.py``). The batch is cut
into :data:`PIECES` row blocks whatever the thread count; each block's GEMMs
run on one thread with a one-thread BLAS (:mod:`emsm_np.cpu.threads`), and the
blocks' parts of ``dW = x^T dout`` are added in block order, so the result does
not depend on how many threads ran them.
"""
import numpy as np

from ..functional.linear import LinearCache, check_linear_backward
from .threads import for_slices, sum_in_order

PIECES = 4  # row blocks: few, so that each GEMM keeps a useful size


def linear_forward(x, weight, bias=None):
    """As :func:`emsm_np.functional.linear.linear_forward`, for NumPy arrays."""
    out = np.empty((x.shape[0], weight.shape[1]), dtype=np.result_type(x, weight))

    def rows(s):
        np.matmul(x[s], weight, out=out[s])
        if bias is not None:
            out[s] += bias

    for_slices(np, x.shape[0], x.shape[0] * weight.size, rows, pieces=PIECES)
    return out, LinearCache(x, weight, bias is not None)


def linear_backward(dout, cache):
    """As :func:`emsm_np.functional.linear.linear_backward`, for NumPy arrays."""
    check_linear_backward(dout, cache)
    x, weight, has_bias = cache
    dx = np.empty(x.shape, dtype=np.result_type(dout, weight))

    def rows(s):  # dx[s] = dout[s] W^T, and the block's part of x^T dout
        np.matmul(dout[s], weight.T, out=dx[s])
        return x[s].T @ dout[s]

    dweight = sum_in_order(for_slices(np, x.shape[0], x.shape[0] * weight.size, rows, pieces=PIECES))
    return dx, dweight, (np.sum(dout, axis=0) if has_bias else None)
