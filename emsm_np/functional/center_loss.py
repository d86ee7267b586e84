"""Center loss (Wen, Zhang, Li, Qiao 2016, "A discriminative feature learning approach for
deep face recognition", Eqs. 2-4), and Wen's update rule for the centres.

For features ``x`` (n, d), labels ``y`` (n,) and class centres ``c`` (K, d)::

    L_C = 1/(2n) sum_i || x_i - c_{y_i} ||^2                          (Wen Eq. 2, / n)

Wen writes the sum over a mini-batch of m samples; emsm_np averages over the batch
(the Caffe layer of the authors divides by the batch size too). The network is
trained with softmax cross-entropy + ``lam L_C`` (Wen Eq. 5).

Gradient with respect to the features (Wen Eq. 3, with the 1/n)::

    dL_C/dx_i = (x_i - c_{y_i}) / n

The centres are *not* moved by SGD along ``dL_C/dc``. Wen's rule (Eq. 4) moves
each centre towards the mean of its class in the batch, damped by one::

    delta_c_j = sum_{i: y_i = j} (c_j - x_i) / (1 + n_j),   n_j = #{i : y_i = j}
    c_j      <- c_j - alpha delta_c_j                          (Wen Algorithm 1)

A class absent from the batch has ``delta_c_j = 0``. The true gradient
``dL_C/dc_j = -sum_{i: y_i = j} (x_i - c_j) / n`` is returned too (checked by
finite differences), so that the two can be compared: the rule divides by
``1 + n_j`` instead of ``n`` and has no momentum or weight decay.

Both sums over the samples of a class are one product with the one-hot matrix
``Y`` (n, K): ``Y^T (x - c_y)`` (K, d), no scatter.

Nothing here checks its arguments: :func:`emsm_np.losses.center_loss` and the head
:class:`emsm_np.losses.CenterLoss` check them where they enter.
"""
from collections import namedtuple

from ..backend import get_array_module

CenterCache = namedtuple("CenterCache", ["diff", "onehot"])


def _onehot(xp, y, K, dtype):
    Y = xp.zeros((y.shape[0], K), dtype=dtype)
    Y[xp.arange(y.shape[0]), y] = 1.0
    return Y


def center_loss_forward(x, y, centers):
    """``L_C = 1/(2n) sum_i ||x_i - c_{y_i}||^2``.

    Parameters
    ----------
    x : (n, d) float array, features
    y : (n,) int array, labels in [0, K)
    centers : (K, d) float array, same dtype and device as x

    Returns
    -------
    loss : 0-d array
    cache : CenterCache(diff (n, d) = x - c_y, onehot (n, K))
    """
    xp = get_array_module(x, centers)
    n = x.shape[0]
    diff = x - centers[y]  # gather each sample's own centre
    loss = (diff * diff).sum() / (2 * n)
    return loss, CenterCache(diff, _onehot(xp, y, centers.shape[0], x.dtype))


def center_loss_backward(dloss, cache):
    """``(dx (n, d), dcenters (K, d))``: the gradients of ``dloss * L_C``.

    ``dcenters`` is the exact gradient, for checking; Wen's rule uses
    :func:`center_delta` instead.
    """
    diff, Y = cache
    n = diff.shape[0]
    dx = diff * (dloss / n)
    dcenters = -(Y.T @ diff) * (dloss / n)  # each centre collects its own samples
    return dx.astype(diff.dtype, copy=False), dcenters.astype(diff.dtype, copy=False)


def center_delta(cache):
    """Wen's ``delta_c`` (K, d): ``sum_{i: y_i=j} (c_j - x_i) / (1 + n_j)`` (Wen Eq. 4).

    The update is then ``centers -= alpha * delta``; absent classes get 0.
    """
    diff, Y = cache
    counts = Y.sum(axis=0)  # n_j, (K,)
    return -(Y.T @ diff) / (1.0 + counts)[:, None]
