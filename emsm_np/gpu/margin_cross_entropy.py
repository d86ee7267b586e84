"""The soft-margin cross-entropy of every weak classifier at once, on the GPU (Eq. 4).

The reference (:mod:`emsm_np.functional.margin_cross_entropy`) takes one
classifier's logits (n, K) and runs a dozen small operations; the EM-Softmax
head calls it once per weak classifier. Here the logits of all V classifiers,
``Z`` (V, n, K), go through the same formulas together, each elementwise chain
one fused kernel::

    z~  = z - m [k == y]                                     one fused kernel
    l   = z~ - max_k z~ - log sum_k exp(z~ - max_k z~)       one reduction, one fused kernel,
                                                             one reduction, one fused kernel
    p~  = exp(l),  CE_v = mean_i (-l[v, i, y_i])             (in the last kernel), two reductions
    dZ  = dloss (p~ - [k == y]) / n                          one fused kernel

The one-hot ``[k == y]`` is never stored: each kernel compares the class index
with the label.
"""
from collections import namedtuple

from ..backend import get_array_module
from .fuse import fused

GpuWeakCECache = namedtuple("GpuWeakCECache", ["prob", "y", "classes"])
GpuWeakCECache.__doc__ = "p~ = softmax(z~) (V, n, K), the labels (n,) and the class indices (K,), on the device."

_classes_cache = {}


def _classes(xp, K):
    """``arange(K)`` on the device, made once per K."""
    key = (xp, K)
    if key not in _classes_cache:
        _classes_cache[key] = xp.arange(K)
    return _classes_cache[key]


@fused
def margin_kernel(xp):
    def kernel(z, y, classes, margin):
        return xp.where(classes == y, z - margin, z)  # the margin only on the target logit (Eq. 4)
    return kernel


@fused
def shifted_exp_kernel(xp):
    def kernel(zt, zmax):
        return xp.exp(zt - zmax)
    return kernel


@fused
def log_softmax_kernel(xp):
    def kernel(zt, zmax, sumexp, y, classes):
        log_prob = (zt - zmax) - xp.log(sumexp)
        return xp.exp(log_prob), -log_prob * (classes == y)  # p~, and -log p~ at the target only
    return kernel


@fused
def gradient_kernel(xp):
    def kernel(prob, y, classes, scale):
        return (prob - (classes == y)) * scale  # softmax minus one-hot at the target
    return kernel


def weak_cross_entropy_forward(Z, y, margin=0.0):
    """Eq. 4 for each weak classifier: logits ``Z`` (V, n, K), labels ``y`` (n,) on Z's device.

    Returns ``ce`` (V,), the mean soft-margin cross-entropy of each classifier, and a
    :class:`GpuWeakCECache`.
    """
    xp = get_array_module(Z)
    classes, labels = _classes(xp, Z.shape[2]), y.reshape(1, -1, 1)
    zt = margin_kernel(xp)(Z, labels, classes, float(margin))
    zmax = zt.max(axis=2, keepdims=True)
    sumexp = shifted_exp_kernel(xp)(zt, zmax).sum(axis=2, keepdims=True)
    prob, target_nll = log_softmax_kernel(xp)(zt, zmax, sumexp, labels, classes)
    ce = target_nll.sum(axis=2).mean(axis=1)
    return ce, GpuWeakCECache(prob, labels, classes)


def weak_cross_entropy_backward(dloss, cache):
    """``dZ = dloss (p~ - onehot(y)) / n`` (V, n, K), for ``dloss`` a number or a 0-d array on the device."""
    xp = get_array_module(cache.prob)
    prob, labels, classes = cache
    return gradient_kernel(xp)(prob, labels, classes, dloss / prob.shape[1])
