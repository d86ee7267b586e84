"""A-Softmax loss (Liu, Wen, Yu, Li, Raj, Song 2017, "SphereFace: deep hypersphere embedding
for face recognition", Eqs. 6-7): L-Softmax on a classifier whose columns have unit norm.

For features ``x`` (n, d), a classifier ``W`` (d, K), labels ``y``, an integer margin
``m >= 1`` and the annealing weight ``beta >= 0``, with ``w^_j = w_j / ||w_j||``::

    f_{i, y_i} = (beta ||x_i|| cos(theta_{i, y_i}) + ||x_i|| psi(theta_{i, y_i})) / (1 + beta)
    f_{i, j}   = ||x_i|| cos(theta_{i, j}) = w^_j . x_i            (j != y_i)
    L          = mean_i [ logsumexp_j f_{i, j} - f_{i, y_i} ]

which is :mod:`emsm_np.functional.l_softmax` applied to ``W^`` (there ``||w^_y|| = 1``).
The gradient reaches ``W`` through the normalisation (``functional/normalize.py``,
mode "column")::

    dL/dW = J^T dL/dW^,    (J^T G)_j = (G_j - w^_j (w^_j . G_j)) / ||w_j||

Choice: SphereFace's Caffe layer instead overwrites ``W`` with ``W^`` at every forward
pass (so its columns have unit norm there) and updates them with ``dL/dW^`` as it is; with
unit columns the exact gradient is that minus its radial part, which the loss cannot see.
emsm_np keeps ``W`` as the parameter and takes the exact gradient of the loss as written,
as the EM-Softmax head does through its normalisation.

Test time: the logits ``x W^`` without margin (SphereFace's layer in its TEST phase).

Nothing here checks its arguments: :func:`emsm_np.losses.a_softmax_loss` and the head
:class:`emsm_np.losses.ASoftmax` check them where they enter.
"""
from collections import namedtuple

from .l_softmax import l_softmax_backward, l_softmax_forward
from .normalize import normalize_backward, normalize_forward

ASoftmaxCache = namedtuple("ASoftmaxCache", ["normalize", "l_softmax"])


def a_softmax_forward(x, W, y, margin=4, beta=0.0):
    """Mean A-Softmax loss.

    Parameters as :func:`emsm_np.functional.l_softmax.l_softmax_forward`.

    Returns
    -------
    loss : 0-d array
    cache : ASoftmaxCache(normalisation cache, L-Softmax cache)
    """
    w_hat, ncache = normalize_forward(W, "column")
    loss, lcache = l_softmax_forward(x, w_hat, y, margin, beta)
    return loss, ASoftmaxCache(ncache, lcache)


def a_softmax_backward(dloss, cache):
    """Gradients ``(dx (n, d), dW (d, K))`` of ``dloss * L``, through the normalisation of W."""
    dx, dw_hat = l_softmax_backward(dloss, cache.l_softmax)
    return dx, normalize_backward(dw_hat, cache.normalize)
