"""The momentum SGD update of one parameter as one fused kernel.

:class:`emsm_np.optim.SGD` updates each parameter in four or five array
operations (PyTorch's ``torch.optim.SGD``, dampening 0, no Nesterov)::

    g <- grad + weight_decay * w        (parameters with decay only)
    v <- momentum * v + g
    w <- w - lr * v

On the GPU that is one kernel per parameter, updating ``v`` and ``w`` in place
in the order written. ``lr``, ``momentum`` and ``weight_decay`` are passed as
scalars, so a new learning rate at a milestone is no transfer and no new kernel.
"""
from ..backend import get_array_module
from .fuse import fused


@fused
def sgd_kernel(xp):
    def kernel(w, v, grad, lr, momentum):
        v *= momentum
        v += grad
        w -= lr * v
    return kernel


@fused
def sgd_decay_kernel(xp):
    def kernel(w, v, grad, lr, momentum, weight_decay):
        v *= momentum
        v += grad + weight_decay * w
        w -= lr * v
    return kernel


def sgd_update(w, v, grad, lr, momentum, weight_decay=0.0):
    """Update ``w`` and its velocity ``v`` in place (CuPy arrays of one shape and dtype)."""
    xp = get_array_module(w)
    if weight_decay:
        sgd_decay_kernel(xp)(w, v, grad, float(lr), float(momentum), float(weight_decay))
    else:
        sgd_kernel(xp)(w, v, grad, float(lr), float(momentum))
