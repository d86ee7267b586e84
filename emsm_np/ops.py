"""Which route computes an operation: the reference, or a fast CPU route.

Every operation has a **reference route** in :mod:`emsm_np.functional`: one
vectorised, textbook forward and backward, the one the derivations page
explains and the one CuPy runs. Some have a **fast CPU route** in
:mod:`emsm_np.cpu` (worker threads, the row im2col, per-image GEMMs for thin
first layers, pairwise 2x2 max-pooling): the same numbers up to float
rounding, each tested against its reference (``tests/test_cpu_routes.py``).

This module decides, in one place, and the layers call through it. It is also
where a forward's inputs are checked: each ``*_forward`` below validates its
arguments once (:mod:`emsm_np.functional._inputs`), with the messages the layers
show, then hands the normalised arguments to a route that computes and does not
validate. The routing:

* NumPy inputs and a fast route that applies -> the fast route;
* otherwise (CuPy arrays, a window the fast route does not cover, or fast
  routes switched off) -> the reference.

A backward pass goes where its forward went: the routes with a cache of their
own (convolution, pooling) are recognised by it; the others share the
reference's cache.

Switch the fast routes off to step through the reference with NumPy arrays:
``EMSM_REFERENCE=1`` in the environment, :func:`set_fast_routes` (False), or
``with reference_routes(): ...``.
"""
import contextlib
import os

import numpy as np

from . import cpu
from .functional import batch_norm, conv2d, dropout, linear, max_pool2d, prelu, relu
from .functional._inputs import (check_bn_inputs, check_conv2d_inputs, check_dropout_inputs, check_linear_inputs,
                                 check_max_pool2d_inputs, check_prelu_inputs, check_relu_inputs, pool_params)

__all__ = ["fast_routes_enabled", "set_fast_routes", "reference_routes", "relu_forward", "relu_backward",
           "prelu_forward", "prelu_backward", "linear_forward", "linear_backward", "batch_norm_forward",
           "batch_norm_backward", "conv2d_forward", "conv2d_backward", "max_pool2d_forward",
           "max_pool2d_backward", "dropout_forward", "dropout_backward"]

_state = {"fast": os.environ.get("EMSM_REFERENCE", "") not in ("1", "true", "yes")}


def fast_routes_enabled():
    """Whether NumPy inputs take the fast CPU routes (default: yes, unless ``EMSM_REFERENCE=1``)."""
    return _state["fast"]


def set_fast_routes(enabled):
    """Use the fast CPU routes for NumPy inputs (True) or the reference routes only (False)."""
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, got {enabled!r}")
    _state["fast"] = enabled


@contextlib.contextmanager
def reference_routes():
    """Within the block, every operation takes its reference route."""
    before = _state["fast"]
    _state["fast"] = False
    try:
        yield
    finally:
        _state["fast"] = before


def _on_cpu(*arrays):
    """Fast routes on, and every given array a NumPy array."""
    return _state["fast"] and all(isinstance(a, np.ndarray) for a in arrays if a is not None)


def dropout_forward(x, mask, p):
    p = check_dropout_inputs(x, mask, p)
    return dropout.dropout_forward(x, mask, p)  # one route: an elementwise product


def dropout_backward(dout, cache):
    return dropout.dropout_backward(dout, cache)


def relu_forward(x):
    check_relu_inputs(x)
    return (cpu.relu if _on_cpu(x) else relu).relu_forward(x)


def relu_backward(dout, cache):
    return (cpu.relu if _on_cpu(dout, cache.positive) else relu).relu_backward(dout, cache)


def prelu_forward(x, weight):
    check_prelu_inputs(x, weight)
    return (cpu.prelu if _on_cpu(x, weight) else prelu).prelu_forward(x, weight)


def prelu_backward(dout, cache):
    return (cpu.prelu if _on_cpu(dout, cache.x) else prelu).prelu_backward(dout, cache)


def linear_forward(x, weight, bias=None):
    check_linear_inputs(x, weight, bias)
    return (cpu.linear if _on_cpu(x, weight, bias) else linear).linear_forward(x, weight, bias)


def linear_backward(dout, cache):
    return (cpu.linear if _on_cpu(dout, cache.x) else linear).linear_backward(dout, cache)


def batch_norm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5):
    momentum, eps = check_bn_inputs(x, gamma, beta, running_mean, running_var, train, momentum, eps)
    route = cpu.batch_norm if _on_cpu(x, gamma, beta, running_mean, running_var) else batch_norm
    return route.batch_norm_forward(x, gamma, beta, running_mean, running_var, train, momentum, eps)


def batch_norm_backward(dout, cache):
    return (cpu.batch_norm if _on_cpu(dout, cache.x_centered) else batch_norm).batch_norm_backward(dout, cache)


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    stride, padding = check_conv2d_inputs(x, weight, bias, stride, padding)
    return (cpu.conv2d if _on_cpu(x, weight, bias) else conv2d).conv2d_forward(x, weight, bias, stride, padding)


def conv2d_backward(dout, cache, need_dx=True):
    route = cpu.conv2d if isinstance(cache, cpu.conv2d.CpuConv2dCache) else conv2d
    return route.conv2d_backward(dout, cache, need_dx)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    kernel_size, stride, padding = pool_params(kernel_size, stride, padding)
    check_max_pool2d_inputs(x, kernel_size, stride, padding, ceil_mode)
    fast = _on_cpu(x) and cpu.max_pool2d.applies(kernel_size, stride, padding)
    return (cpu.max_pool2d if fast else max_pool2d).max_pool2d_forward(x, kernel_size, stride, padding, ceil_mode)


def max_pool2d_backward(dout, cache):
    route = cpu.max_pool2d if isinstance(cache, cpu.max_pool2d.PairsCache) else max_pool2d
    return route.max_pool2d_backward(dout, cache)
