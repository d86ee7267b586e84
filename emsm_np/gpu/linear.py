"""The linear layer's backward on the GPU, writing the parameter gradients where they are kept.

The reference's forward (:mod:`emsm_np.functional.linear`, one GEMM and one add)
is already what a GPU wants, and runs as it is; its backward here differs only
in writing ``dweight`` and ``dbias`` into given arrays (the layer's gradients,
views of the optimiser's flat buffer: see :mod:`emsm_np.gpu.flat`) instead of
new ones that the layer would copy::

    dx = dout W^T,   dW = x^T dout,   db = sum_n dout[n]        three kernels
"""
from ..backend import get_array_module
from ..functional.linear import check_linear_backward


def linear_backward(dout, cache, out=None):
    """As :func:`emsm_np.functional.linear.linear_backward`, for CuPy arrays; ``out``: None, or
    ``(dweight, dbias)`` arrays (``dbias`` None without a bias) to write the gradients into."""
    check_linear_backward(dout, cache)
    xp = get_array_module(dout)
    x, weight, has_bias = cache
    dweight_out, dbias_out = out if out is not None else (None, None)
    dweight = xp.matmul(x.T, dout, out=dweight_out)
    dbias = dout.sum(axis=0, out=dbias_out) if has_bias else None
    return xp.matmul(dout, weight.T), dweight, dbias
