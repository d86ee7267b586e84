"""Gradient checking: compare a hand-derived backward pass with central differences.

The relative error used throughout emsm_np (and CS231n) is::

    rel_error(a, n) = max|a - n| / max(1e-8, max(|a| + |n|))

Run checks in float64: with ``eps = 1e-6`` the central difference has
truncation error O(eps^2) ~ 1e-12 and round-off O(1e-16 / eps) ~ 1e-10, so a
correct smooth gradient shows a relative error around 1e-9 or below, and a
wrong one shows 1e-2 or more. Operations with kinks (ReLU, max-pooling) need
inputs kept at least ``eps`` away from the kinks.

For a non-scalar output ``y = f(x)`` we check a vector-Jacobian product: draw a
random upstream gradient ``dy`` and compare the backward pass's ``dx`` with
the numerical gradient of the scalar ``sum(f(x) * dy)``. That is exactly what
backward computes, and a random ``dy`` makes a wrong Jacobian show up with
probability one.

Example
-------
>>> import numpy as np
>>> from emsm_np import gradcheck
>>> x = np.random.randn(3, 4)
>>> f = lambda: (x ** 3).sum()
>>> num = gradcheck.numerical_gradient(f, x)
>>> gradcheck.rel_error(3 * x ** 2, num) < 1e-8
True
"""
import numpy as np

from .backend import get_array_module

__all__ = [
    "rel_error",
    "numerical_gradient",
    "numerical_vjp",
    "check_function",
    "check_layer",
]


def rel_error(a, n):
    """``max|a - n| / max(1e-8, max(|a| + |n|))`` as a Python float.

    ``a`` and ``n`` are arrays of the same shape (the analytic and the numerical
    gradient); NumPy or CuPy.
    """
    xp = get_array_module(a, n)
    a = xp.asarray(a, dtype=xp.float64)
    n = xp.asarray(n, dtype=xp.float64)
    if a.shape != n.shape:
        raise ValueError(f"a and n must have the same shape, got {a.shape} and {n.shape}")
    if a.size == 0:
        return 0.0
    num = float(xp.abs(a - n).max())
    den = max(1e-8, float((xp.abs(a) + xp.abs(n)).max()))
    return num / den


def numerical_gradient(f, x, eps=1e-6):
    """Central-difference gradient of the scalar ``f()`` with respect to ``x``.

    ``f`` takes no arguments and reads ``x`` (closure); each entry of ``x`` is
    perturbed in place by ``+eps`` and ``-eps`` and restored, so after the call
    ``x`` holds exactly its original values.

    Parameters
    ----------
    f : callable () -> scalar (Python float or 0-d array)
    x : float64 array (NumPy or CuPy), any shape
    eps : step size

    Returns
    -------
    grad : array like ``x``, ``grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``
    """
    if x.dtype != np.float64:
        raise TypeError(f"x must be float64 for a finite-difference check, got {x.dtype}")
    xp = get_array_module(x)
    grad = xp.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = float(x[idx])
        x[idx] = old + eps
        fp = float(f())
        x[idx] = old - eps
        fm = float(f())
        x[idx] = old
        grad[idx] = (fp - fm) / (2.0 * eps)
    return grad


def numerical_vjp(f, x, dout, eps=1e-6):
    """Numerical vector-Jacobian product: gradient of ``sum(f() * dout)`` w.r.t. ``x``."""
    xp = get_array_module(x, dout)
    return numerical_gradient(lambda: xp.sum(f() * dout), x, eps)


def check_function(f, inputs, grads, dout=None, eps=1e-6):
    """Relative error of hand-derived gradients of ``f`` for every named input.

    Parameters
    ----------
    f : callable () -> output array or scalar; reads the arrays in ``inputs``
    inputs : dict name -> float64 array, perturbed in place (and restored)
    grads : dict name -> analytic gradient (same keys as ``inputs``): for a
        scalar output the gradient of ``f()``; otherwise the VJP with ``dout``
    dout : upstream gradient for a non-scalar output, or None for a scalar

    Returns
    -------
    dict name -> relative error (Python float)
    """
    errors = {}
    for name, x in inputs.items():
        if dout is None:
            num = numerical_gradient(f, x, eps)
        else:
            num = numerical_vjp(f, x, dout, eps)
        errors[name] = rel_error(grads[name], num)
    return errors


def check_layer(layer, x, train=True, seed=0, eps=1e-6):
    """Check ``layer.backward`` against central differences, for ``x`` and every param.

    The layer must be float64 and deterministic in ``forward`` (seed or disable
    any randomness first). A random upstream gradient ``dout`` is drawn.

    Returns
    -------
    dict: ``"x"`` and each key of ``layer.params`` -> relative error
    """
    xp = get_array_module(x)
    out = layer.forward(x, train=train)
    rng = np.random.default_rng(seed)
    dout = xp.asarray(rng.standard_normal(out.shape))
    dx = layer.backward(dout)
    analytic = {"x": dx}
    analytic.update({k: g.copy() for k, g in layer.grads.items()})
    inputs = {"x": x}
    inputs.update(layer.params)

    # The forward pass may update state (BN running statistics); snapshot and
    # restore so that repeated forwards see the same layer.
    buffers = {k: v.copy() for k, v in getattr(layer, "buffers", {}).items()}

    def f():
        for k, v in buffers.items():
            layer.buffers[k][...] = v
        return layer.forward(x, train=train)

    errors = check_function(f, inputs, analytic, dout=dout, eps=eps)
    for k, v in buffers.items():
        layer.buffers[k][...] = v
    return errors
