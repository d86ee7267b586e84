"""ReLU on the CPU: :mod:`emsm_np.functional.relu`, the batch split between worker threads.

The same values as the reference (``tests/test_cpu_routes.py``). Both passes are
arithmetic (``maximum``, a product with the mask) written into preallocated
outputs slice by slice (:mod:`emsm_np.cpu.threads`), so every core works on a
pass that NumPy would run on one.
"""
import numpy as np

from ..functional.relu import ReluCache, check_relu_backward
from .threads import for_batch


def relu_forward(x):
    """As :func:`emsm_np.functional.relu.relu_forward`, for a NumPy ``x``."""
    out, positive = np.empty_like(x), np.empty(x.shape, dtype=bool)
    zero = np.zeros((), dtype=x.dtype)

    def part(s):
        np.greater(x[s], 0, out=positive[s])
        np.maximum(x[s], zero, out=out[s])

    for_batch(np, x, part)
    return out, ReluCache(positive)


def relu_backward(dout, cache):
    """As :func:`emsm_np.functional.relu.relu_backward`, for a NumPy ``dout``."""
    check_relu_backward(dout, cache)
    positive = cache.positive
    dx = np.empty(dout.shape, dtype=dout.dtype)
    for_batch(np, dout, lambda s: np.multiply(dout[s], positive[s], out=dx[s]))
    return dx
