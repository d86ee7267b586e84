"""Which route computes an operation: the reference, a fast CPU route or a fast GPU route.

Every operation has a **reference route** in :mod:`emsm_np.functional`: one
vectorised, textbook forward and backward, the one the derivations page
explains; it runs on NumPy and on CuPy arrays alike. Some have a **fast CPU
route** in :mod:`emsm_np.cpu` (worker threads, the row im2col, per-image GEMMs
for thin first layers, pairwise 2x2 max-pooling) and a **fast GPU route** in
:mod:`emsm_np.gpu` (fewer, larger kernels: im2col as one gather, the batch as
one batched GEMM, elementwise chains fused): the same numbers up to float
rounding, each tested against its reference (``tests/test_cpu_routes.py``,
``tests/test_gpu_routes.py``).

This module decides, in one place, and the layers call through it. It is also
where a forward's inputs are checked: each ``*_forward`` below validates its
arguments once (:mod:`emsm_np.functional._inputs`), with the messages the layers
show, then hands the normalised arguments to a route that computes and does not
validate. The routing:

* NumPy inputs and a fast CPU route that applies -> the fast CPU route;
* CuPy inputs and a fast GPU route that applies -> the fast GPU route;
* otherwise (a window no fast route covers, or fast routes switched off) ->
  the reference.

A backward pass goes where its forward went: the routes with a cache of their
own are recognised by it; the others share the reference's cache and follow
their arrays. The backward of an operation with parameters takes ``out``, the
arrays where the layer keeps its gradients: the fast GPU routes write them there
(no copy: a launch saved per parameter), the others' results are copied there.

Switch the fast routes off to step through the reference, on either device:
``EMSM_REFERENCE=1`` in the environment, :func:`set_fast_routes` (False), or
``with reference_routes(): ...``.
"""
import contextlib
import os

import numpy as np

from . import cpu, gpu
from .backend import get_array_module
from .functional import (batch_norm, conv2d, dropout, hsic, linear, margin_cross_entropy, max_pool2d, normalize,
                         prelu, relu)
from .functional._inputs import (check_bn_inputs, check_conv2d_inputs, check_dropout_inputs, check_linear_inputs,
                                 check_max_pool2d_inputs, check_prelu_inputs, check_relu_inputs, pool_params)

__all__ = ["fast_routes_enabled", "set_fast_routes", "reference_routes", "relu_forward", "relu_backward",
           "prelu_forward", "prelu_backward", "linear_forward", "linear_backward", "batch_norm_forward",
           "batch_norm_backward", "conv2d_forward", "conv2d_backward", "max_pool2d_forward",
           "max_pool2d_backward", "dropout_forward", "dropout_backward", "weak_cross_entropy_forward",
           "weak_cross_entropy_backward", "normalize_forward", "normalize_backward", "hsic_diversity_forward",
           "hsic_diversity_backward"]

_state = {"fast": os.environ.get("EMSM_REFERENCE", "") not in ("1", "true", "yes")}


def fast_routes_enabled():
    """Whether the fast CPU and GPU routes are taken (default: yes, unless ``EMSM_REFERENCE=1``)."""
    return _state["fast"]


def set_fast_routes(enabled):
    """Use the fast CPU and GPU routes where they apply (True) or the reference routes only (False)."""
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


def _on_gpu(*arrays):
    """Fast routes on, and the arrays CuPy arrays (ops do not mix devices: the inputs' checks refuse it)."""
    return _state["fast"] and get_array_module(*arrays) is not np


def _into(out, grads):
    """The parameter gradients ``grads`` in ``out``'s arrays where given: copied there, unless a route
    wrote them there already. ``out`` None: ``grads`` as computed."""
    if out is None:
        return tuple(grads)
    for o, g in zip(out, grads):
        if o is not None and g is not None and g is not o:
            o[...] = g
    return tuple(g if o is None or g is None else o for o, g in zip(out, grads))


def _route(cpu_route, gpu_route, reference, *arrays):
    """The fast CPU route for NumPy arrays, the fast GPU route for CuPy arrays, else the reference."""
    if _on_cpu(*arrays):
        return cpu_route
    return gpu_route if _on_gpu(*arrays) else reference


def dropout_forward(x, mask, p):
    p = check_dropout_inputs(x, mask, p)
    return dropout.dropout_forward(x, mask, p)  # one route: an elementwise product


def dropout_backward(dout, cache):
    return dropout.dropout_backward(dout, cache)


def relu_forward(x):
    check_relu_inputs(x)
    return _route(cpu.relu, gpu.relu, relu, x).relu_forward(x)


def relu_backward(dout, cache):
    if isinstance(cache, gpu.relu.GpuReluCache):
        return gpu.relu.relu_backward(dout, cache)
    return (cpu.relu if _on_cpu(dout, cache.positive) else relu).relu_backward(dout, cache)


def prelu_forward(x, weight):
    check_prelu_inputs(x, weight)
    return _route(cpu.prelu, gpu.prelu, prelu, x, weight).prelu_forward(x, weight)


def prelu_backward(dout, cache, out=None):
    if isinstance(cache, gpu.prelu.GpuPReluCache):
        return gpu.prelu.prelu_backward(dout, cache, out)
    dx, dweight = (cpu.prelu if _on_cpu(dout, cache.x) else prelu).prelu_backward(dout, cache)
    return (dx,) + _into(out, (dweight,))


def linear_forward(x, weight, bias=None):
    check_linear_inputs(x, weight, bias)
    return (cpu.linear if _on_cpu(x, weight, bias) else linear).linear_forward(x, weight, bias)


def linear_backward(dout, cache, out=None):
    if _on_gpu(dout, cache.x):
        return gpu.linear.linear_backward(dout, cache, out)
    dx, dweight, dbias = (cpu.linear if _on_cpu(dout, cache.x) else linear).linear_backward(dout, cache)
    return (dx,) + _into(out, (dweight, dbias))


def batch_norm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1, eps=1e-5,
                       running_out=None):
    """``running_out``: None, or the two arrays where the layer keeps its running statistics (in train
    mode the new ones are written there, like ``out`` of a backward)."""
    momentum, eps = check_bn_inputs(x, gamma, beta, running_mean, running_var, train, momentum, eps)
    if _on_gpu(x, gamma, beta, running_mean, running_var):
        return gpu.batch_norm.batch_norm_forward(x, gamma, beta, running_mean, running_var, train, momentum, eps,
                                                 running_out if train else None)
    route = cpu.batch_norm if _on_cpu(x, gamma, beta, running_mean, running_var) else batch_norm
    out, cache, running = route.batch_norm_forward(x, gamma, beta, running_mean, running_var, train, momentum, eps)
    if train and running_out is not None:
        running = type(running)(*_into(running_out, running))
    return out, cache, running


def batch_norm_backward(dout, cache, out=None):  # all three routes share the reference's cache
    if _on_gpu(dout, cache.x_centered):
        return gpu.batch_norm.batch_norm_backward(dout, cache, out)
    dx, dgamma, dbeta = (cpu.batch_norm if _on_cpu(dout, cache.x_centered) else batch_norm).batch_norm_backward(
        dout, cache)
    return (dx,) + _into(out, (dgamma, dbeta))


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    stride, padding = check_conv2d_inputs(x, weight, bias, stride, padding)
    route = _route(cpu.conv2d, gpu.conv2d, conv2d, x, weight, bias)
    return route.conv2d_forward(x, weight, bias, stride, padding)


def conv2d_backward(dout, cache, need_dx=True, out=None):
    if isinstance(cache, gpu.conv2d.GpuConv2dCache):
        return gpu.conv2d.conv2d_backward(dout, cache, need_dx, out)
    route = cpu.conv2d if isinstance(cache, cpu.conv2d.CpuConv2dCache) else conv2d
    dx, dweight, dbias = route.conv2d_backward(dout, cache, need_dx)
    return (dx,) + _into(out, (dweight, dbias))


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    kernel_size, stride, padding = pool_params(kernel_size, stride, padding)
    check_max_pool2d_inputs(x, kernel_size, stride, padding, ceil_mode)
    route = _route(cpu.max_pool2d, gpu.max_pool2d, max_pool2d, x)
    if route is not max_pool2d and not route.applies(kernel_size, stride, padding):
        route = max_pool2d  # the fast routes pool 2x2 windows at stride 2 only
    return route.max_pool2d_forward(x, kernel_size, stride, padding, ceil_mode)


def max_pool2d_backward(dout, cache):
    if isinstance(cache, cpu.max_pool2d.PairsCache):
        return cpu.max_pool2d.max_pool2d_backward(dout, cache)
    if isinstance(cache, gpu.max_pool2d.GpuPoolCache):
        return gpu.max_pool2d.max_pool2d_backward(dout, cache)
    return max_pool2d.max_pool2d_backward(dout, cache)


def weak_cross_entropy_forward(Z, y, margin=0.0):
    """Eq. 4 for every weak classifier: ``(ce (V,), cache)`` from logits ``Z`` (V, n, K) and labels ``y``
    (n,), checked by the head. The reference is one :mod:`~emsm_np.functional.margin_cross_entropy`
    call per classifier; on the GPU all V go together (:mod:`emsm_np.gpu.margin_cross_entropy`)."""
    if _on_gpu(Z, y):
        return gpu.margin_cross_entropy.weak_cross_entropy_forward(Z, y, margin)
    xp = get_array_module(Z)
    parts = [margin_cross_entropy.margin_cross_entropy_forward(z, y, margin) for z in Z]  # V is small (1-4)
    return xp.stack([loss for loss, _ in parts]), [cache for _, cache in parts]


def weak_cross_entropy_backward(dloss, cache):
    """``dZ`` (V, n, K) of ``dloss`` times the sum of the V cross-entropies."""
    if isinstance(cache, gpu.margin_cross_entropy.GpuWeakCECache):
        return gpu.margin_cross_entropy.weak_cross_entropy_backward(dloss, cache)
    xp = get_array_module(cache[0].prob)
    return xp.stack([margin_cross_entropy.margin_cross_entropy_backward(dloss, c) for c in cache])


def normalize_forward(W, mode="column"):
    """The classifiers' normalisation before the HSIC term (:mod:`emsm_np.functional.normalize`;
    ``mode`` checked by the head)."""
    if mode != "none" and _on_gpu(W):
        return gpu.hsic.normalize_forward(W, mode)
    return normalize.normalize_forward(W, mode)


def normalize_backward(dW_hat, cache):  # both routes share the reference's cache
    if cache.w_hat is not None and _on_gpu(dW_hat):
        return gpu.hsic.normalize_backward(dW_hat, cache)
    return normalize.normalize_backward(dW_hat, cache)


def hsic_diversity_forward(W_hat):
    """The HSIC diversity D of Eq. 6 (:mod:`emsm_np.functional.hsic`)."""
    return (gpu.hsic if _on_gpu(W_hat) else hsic).hsic_diversity_forward(W_hat)


def hsic_diversity_backward(dD, cache):  # one route: two small GEMMs
    return hsic.hsic_diversity_backward(dD, cache)
