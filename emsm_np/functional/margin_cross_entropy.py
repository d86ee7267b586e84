"""Soft-margin softmax cross-entropy (M-Softmax: the loss L_M of Eq. 4 of Wang et al. 2018,
with the distance margin of Eq. 3).

The margin ``m >= 0`` is subtracted from the target logit only::

    z~[i, k] = z[i, k] - m * [k == y_i]
    L        = mean_i ( logsumexp_k z~[i, k] - z~[i, y_i] )          (Eq. 4)

With ``m = 0`` this is the ordinary softmax cross-entropy. The paper writes the
loss of one sample; the mean over the batch is emsm_np's choice (the paper does
not say mean or sum).

Gradient (Eq. 4 differentiated; the margin is a constant shift, so it only
changes the probabilities the gradient is built from)::

    dL/dz[i, k] = ( p~[i, k] - [k == y_i] ) / n,    p~ = softmax(z~)

Numerically stable for logits up to +-1e4 in float32 and float64: the row
maximum is subtracted before exponentiating, so ``exp`` never overflows and
the largest term of every row sum is exactly 1.

Nothing here checks its arguments: the heads and the public ``*_loss`` functions of
:mod:`emsm_np.losses` check them where they enter, the labels once per step
(:func:`emsm_np._checks.check_labels`).
"""
from collections import namedtuple

from ..backend import get_array_module

MarginCECache = namedtuple("MarginCECache", ["prob", "y"])


def margin_cross_entropy_forward(z, y, margin=0.0):
    """Mean soft-margin cross-entropy of logits ``z`` against labels ``y`` (Eq. 4).

    Parameters
    ----------
    z : (n, K) float array, logits ``x W``
    y : (n,) int array on z's device, labels in [0, K)
    margin : float >= 0, the soft margin ``m`` subtracted from the target logit

    Returns
    -------
    loss : 0-d array, ``mean_i CE_i``
    cache : MarginCECache(prob (n, K) = softmax(z~), y)
    """
    xp = get_array_module(z)
    rows = xp.arange(z.shape[0])
    zt = z.copy()
    zt[rows, y] -= margin  # the margin only on the target logit (Eq. 4)
    zmax = zt.max(axis=1, keepdims=True)
    shifted = zt - zmax
    sumexp = xp.exp(shifted).sum(axis=1, keepdims=True)
    log_prob = shifted - xp.log(sumexp)
    loss = -log_prob[rows, y].mean()
    prob = xp.exp(log_prob)
    return loss, MarginCECache(prob, y)


def margin_cross_entropy_backward(dloss, cache):
    """Gradient with respect to the logits: ``dloss * (p~ - onehot(y)) / n``.

    Parameters
    ----------
    dloss : scalar upstream gradient of the loss
    cache : from :func:`margin_cross_entropy_forward`

    Returns
    -------
    dz : (n, K) array
    """
    xp = get_array_module(cache.prob)
    prob, y = cache
    n = prob.shape[0]
    dz = prob.copy()
    dz[xp.arange(n), y] -= 1  # softmax minus one-hot at the target
    dz *= dloss / n
    return dz
