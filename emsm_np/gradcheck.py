"""Gradient checking: compare a hand-derived backward pass with central differences.

The relative error used throughout emsm_np (and CS231n) is::

    rel_error(a, n) = max|a - n| / max(1e-8, max(|a| + |n|))

For a non-scalar output ``y = f(x)`` we check a vector-Jacobian product: draw a
random upstream gradient ``dy`` and compare the backward pass's ``dx`` with
the numerical gradient of the scalar ``sum(f(x) * dy)``. That is exactly what
backward computes, and a random ``dy`` makes a wrong Jacobian show up with
probability one.

A test states a whole check in one call, and the call fails naming every input
with its relative error and the bound::

    assert_gradients(lambda: linear_forward(x, W, b), linear_backward, {"x": x, "W": W, "b": b})
    assert_gradients_match(lambda: em_softmax_loss(x, W, y)[0], {"x": x, "W": W}, {"x": dx, "W": dW})
    assert_layer_gradients(ReLU(), x, bound=KINK)

**The bounds.** Every gradient test compares the relative error with one of two
bounds, defined here and nowhere else.

``SMOOTH = 1e-7``, for smooth operations (linear, batch norm, convolution, the
cross-entropies, the normalisations, the HSIC term). The checks run in float64
with the step ``EPS = 1e-6``: the central difference then has truncation error
O(EPS^2) ~ 1e-12 and round-off O(1e-16 / EPS) ~ 1e-10, relative to the size of
the function, so a correct gradient shows 1e-8 or less (at most 4e-9 in the
test suite), while a wrong one (a missing factor, a transposed term, a dropped
branch) shows 1e-3 or more. 1e-7 leaves more than an order of magnitude on each
side.

``KINK = 1e-5``, where there are kinks (ReLU, PReLU, max-pooling, the L1 hinge,
and networks that contain them). A difference that straddles a kink is wrong by
up to the whole jump of the slope, so the tests keep the inputs farther than
``EPS`` from every kink (``|x| >= 0.1`` for ReLU and PReLU, window values 0.1
apart for max-pooling, every hinge at least 1e-3 from its corner). Where that
holds, a correct backward shows as small an error as a smooth one (at most
7e-9 in the test suite, for max-pooling over values up to 10). The looser
bound is the margin for the checks where the distance to a kink is not set
directly: a kink behind other layers (PReLU after batch norm, ReLU and
max-pooling inside a network), whose input is a computed value. It is still
two orders of magnitude below what a wrong gradient shows.

Both bounds need float64 (:func:`numerical_gradient` refuses anything else):
in float32 the round-off alone, ~1e-7 / EPS, is larger than either.

Example
-------
>>> import numpy as np
>>> from emsm_np import gradcheck
>>> x = np.random.randn(3, 4)
>>> f = lambda: (x ** 3).sum()
>>> num = gradcheck.numerical_gradient(f, x)
>>> gradcheck.rel_error(3 * x ** 2, num) < gradcheck.SMOOTH
True
"""
import numpy as np

from .backend import get_array_module

__all__ = [
    "SMOOTH",
    "KINK",
    "EPS",
    "rel_error",
    "numerical_gradient",
    "numerical_vjp",
    "check_function",
    "check_layer",
    "assert_gradients",
    "assert_gradients_match",
    "assert_layer_gradients",
]

#: Relative-error bound for smooth operations (float64, step ``EPS``; see the module docstring).
SMOOTH = 1e-7
#: Relative-error bound where there are kinks (ReLU, PReLU, max-pooling, the L1 hinge),
#: the inputs kept farther than ``EPS`` from them (see the module docstring).
KINK = 1e-5
#: Step of the central differences: truncation O(EPS^2) ~ 1e-12 against round-off O(1e-16 / EPS) ~ 1e-10.
EPS = 1e-6


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


def numerical_gradient(f, x, eps=EPS):
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


def numerical_vjp(f, x, dout, eps=EPS):
    """Numerical vector-Jacobian product: gradient of ``sum(f() * dout)`` w.r.t. ``x``."""
    xp = get_array_module(x, dout)
    return numerical_gradient(lambda: xp.sum(f() * dout), x, eps)


def check_function(f, inputs, grads, dout=None, eps=EPS):
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


def check_layer(layer, x, train=True, seed=0, eps=EPS):
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


def _failures_message(errors, bound, what):
    """One line per checked input: its name, its relative error, and whether it is below ``bound``."""
    width = max(len(name) for name in errors)
    lines = [f"{what}: the relative error of every gradient must be < {bound:.0e}"]
    for name, err in errors.items():
        verdict = "ok" if err < bound else f"FAILS (>= {bound:.0e})"
        lines.append(f"  {name:<{width}}  {err:.2e}  {verdict}")
    return "\n".join(lines)


def _assert_below(errors, bound, what):
    if not errors:
        raise AssertionError(f"{what}: no gradient was checked (inputs is empty)")
    # `not err < bound` also catches a NaN error (a backward that returned NaN).
    if any(not err < bound for err in errors.values()):
        raise AssertionError(_failures_message(errors, bound, what))
    return errors


def _named_gradients(grads, names):
    """The gradients a backward returned, by input name: a dict, a tuple in the order of
    ``names``, or one array when there is one input."""
    if isinstance(grads, dict):
        missing = [n for n in names if n not in grads]
        if missing:
            raise ValueError(f"backward returned no gradient for {', '.join(missing)} (got {', '.join(grads)})")
        return {n: grads[n] for n in names}
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(names):
        raise ValueError(f"backward returned {len(grads)} gradient(s) for {len(names)} input(s) "
                         f"({', '.join(names)}); return them in the order of inputs, e.g. "
                         "backward=lambda dout, cache: f_backward(dout, cache)[:2]")
    named = dict(zip(names, grads))
    none = [n for n, g in named.items() if g is None]
    if none:
        raise ValueError(f"backward returned None for {', '.join(none)}")
    return named


def _copy(g):
    # Layers write their gradients in place on the next backward: keep what this one returned.
    return g.copy() if hasattr(g, "copy") else g


def _is_scalar(out):
    return not hasattr(out, "shape") or out.shape == ()


def assert_gradients(forward, backward, inputs, *, dout=None, bound=SMOOTH, seed=0, eps=EPS):
    """Assert that ``backward`` gives the gradients of ``forward`` for every array in ``inputs``.

    Runs ``forward()`` once, takes the upstream gradient ``dout`` (drawn at random
    for a non-scalar output), runs ``backward(dout, cache)``, and compares each
    named input's gradient with central differences (:func:`check_function`).

    Parameters
    ----------
    forward : callable () -> (out, cache, ...)
        A functional forward over the arrays of ``inputs`` (a closure, e.g.
        ``lambda: linear_forward(x, W, b)``). Its first item is the output, its
        second the cache; more items (batch norm's running statistics) are ignored.
    backward : callable (dout, cache) -> gradients
        The gradients with respect to ``inputs``: a tuple in the order of
        ``inputs`` (``linear_backward``), one array when there is one input, or a
        dict by name. For a backward that returns more gradients than are
        checked, wrap it: ``lambda dout, cache: conv2d_backward(dout, cache)[:2]``.
    inputs : dict name -> float64 array
        The arrays to differentiate with respect to, the ones ``forward`` reads
        (perturbed in place and restored). NumPy or CuPy; ``dout`` is drawn on
        their device.
    dout : array, number or None
        The upstream gradient. None (the default): for a non-scalar output a
        standard normal array of its shape from ``numpy.random.default_rng(seed)``,
        for a scalar output (a loss) 1.0. A number, for a scalar output: the
        check is then against the differences of ``dout * out``.
    bound : float
        The largest relative error accepted: :data:`SMOOTH` (the default) or
        :data:`KINK`.
    seed : int
        Seed of the drawn ``dout``.
    eps : float
        Step of the central differences.

    Returns
    -------
    dict
        name -> relative error (Python float), when every one is below ``bound``.

    Raises
    ------
    AssertionError
        If any gradient's relative error is not below ``bound``; the message
        lists every input with its error and the bound.
    """
    xp = get_array_module(*inputs.values())
    out, cache = forward()[:2]
    if dout is None:
        dout = 1.0 if _is_scalar(out) else xp.asarray(np.random.default_rng(seed).standard_normal(out.shape))
    grads = {n: _copy(g) for n, g in _named_gradients(backward(dout, cache), list(inputs)).items()}
    f = lambda: forward()[0]  # noqa: E731
    if _is_scalar(dout):
        # A loss: the gradient of dout * out (dout = 1.0 leaves out as it is, bit for bit).
        errors = check_function(lambda: dout * f(), inputs, grads, dout=None, eps=eps)
    else:
        errors = check_function(f, inputs, grads, dout=dout, eps=eps)
    return _assert_below(errors, bound, "backward against central differences")


def assert_gradients_match(f, inputs, grads, *, dout=None, bound=SMOOTH, eps=EPS):
    """Assert that gradients already computed match central differences of ``f``.

    For a function that returns its gradients with its value, as the losses do
    (``em_softmax_loss(x, W, y) -> (loss, dx, dW)``), or a head whose
    ``backward`` has run: there is no separate backward to call.

    Parameters
    ----------
    f : callable () -> output array or scalar
        Reads the arrays of ``inputs``.
    inputs : dict name -> float64 array
        Perturbed in place and restored.
    grads : dict name -> array
        The analytic gradient of each input (same keys as ``inputs``): of
        ``f()`` for a scalar output, else the vector-Jacobian product with ``dout``.
    dout : array or None
        The upstream gradient of a non-scalar output; None for a scalar output.
    bound : float
        :data:`SMOOTH` (the default) or :data:`KINK`.
    eps : float
        Step of the central differences.

    Returns
    -------
    dict
        name -> relative error (Python float), when every one is below ``bound``.

    Raises
    ------
    AssertionError
        If any gradient's relative error is not below ``bound``, naming each input,
        its error and the bound.
    """
    grads = _named_gradients(grads, list(inputs))
    errors = check_function(f, inputs, grads, dout=dout, eps=eps)
    return _assert_below(errors, bound, "gradients against central differences")


def assert_layer_gradients(layer, x, *, train=True, bound=SMOOTH, seed=0, eps=EPS):
    """Assert that ``layer.backward`` matches central differences for ``x`` and every parameter.

    :func:`check_layer` under a bound: the layer (float64, deterministic in
    ``forward``) runs forward on ``x`` in ``train`` mode, backward with a random
    upstream gradient drawn from ``seed``, and the gradients of ``x`` and of each
    key of ``layer.params`` are compared with central differences.

    Returns
    -------
    dict
        ``"x"`` and each key of ``layer.params`` -> relative error, when every one
        is below ``bound``.

    Raises
    ------
    AssertionError
        If any of them is not below ``bound``, naming each with its error and the bound.
    """
    errors = check_layer(layer, x, train=train, seed=seed, eps=eps)
    return _assert_below(errors, bound, f"{type(layer).__name__}.backward against central differences")
