"""One fused kernel per elementwise formula, built once per CuPy module.

``cupy.fuse`` compiles a Python function of elementwise steps (ufuncs,
operators, ``where``, ``astype``) into one CUDA kernel: ``x * s + b`` is one
launch instead of two, and its temporaries never reach GPU memory. On the GPU a
small step costs its launches, not its arithmetic, so the fast GPU routes write
each formula of the reference as one such function.

A formula is written as a *factory* taking the array module ``xp`` (the
function inside may call ``xp.where``, ``xp.maximum``, ...)::

    @fused
    def relu_backward_kernel(xp):
        def kernel(dout, x):          # dx = dout [x > 0]
            return dout * (x > 0)
        return kernel

    dx = relu_backward_kernel(cp)(dout, x)

``relu_backward_kernel(cp)`` is ``cp.fuse(kernel=...)`` of the function, made at
the first call and kept. The same function on NumPy arrays is plain NumPy
(``cupy.fuse`` calls it as it is), which is how a test compares the kernel with
its formula; under the CuPy double a fused call counts as one operation.
"""
import functools

__all__ = ["fused"]


def fused(factory):
    """Turn ``factory(xp) -> function`` into ``kernel(xp) -> xp.fuse()(function)``, cached per module."""
    made = {}

    @functools.wraps(factory)
    def kernel(xp):
        k = made.get(xp)
        if k is None:
            k = made[xp] = xp.fuse(kernel_name=f"emsm_{factory.__name__}")(factory(xp))
        return k

    return kernel
