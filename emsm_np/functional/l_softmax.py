"""L-Softmax loss (Liu, Wen, Yu, Yang 2016, "Large-margin softmax loss for convolutional
neural networks", Eq. 4; psi is its Eqs. 5-6): the large-margin logits, then softmax
cross-entropy. (What each cited equation number rests on: docs/paper.md, "The compared
losses of Table 1".)

For features ``x`` (n, d), a classifier ``W`` (d, K), labels ``y``, an integer margin
``m >= 1`` and the annealing weight ``beta >= 0``::

    f_{i, y_i} = (beta ||w_y|| ||x_i|| cos(theta_i) + ||w_y|| ||x_i|| psi(theta_i)) / (1 + beta)
    f_{i, j}   = w_j . x_i                                     (j != y_i)
    L          = mean_i [ logsumexp_j f_{i, j} - f_{i, y_i} ]

The logits and their backward are :mod:`emsm_np.functional.large_margin_logits`; the
cross-entropy is :mod:`emsm_np.functional.margin_cross_entropy` with margin 0::

    dL/df = (softmax(f) - Y) / n,   then (dx, dW) from the logits' backward.

``beta`` is L-Softmax's ``lambda`` (renamed here: emsm_np's ``lam`` is the HSIC weight).
The L-Softmax code decays it with the iteration
(:func:`emsm_np.losses.l_softmax.beta_schedule`); this function takes its current value.

Nothing here checks its arguments: :func:`emsm_np.losses.l_softmax_loss` and the head
:class:`emsm_np.losses.LSoftmax` check them where they enter.
"""
from collections import namedtuple

from .large_margin_logits import large_margin_logits_backward, large_margin_logits_forward
from .margin_cross_entropy import margin_cross_entropy_backward, margin_cross_entropy_forward

LSoftmaxCache = namedtuple("LSoftmaxCache", ["logits", "ce"])


def l_softmax_forward(x, W, y, margin=2, beta=0.0):
    """Mean L-Softmax loss.

    Parameters
    ----------
    x : (n, d) float array; W : (d, K) float array; y : (n,) int array in [0, K)
    margin : int >= 1; beta : float >= 0

    Returns
    -------
    loss : 0-d array
    cache : LSoftmaxCache(logits cache, cross-entropy cache)
    """
    f, lcache = large_margin_logits_forward(x, W, y, margin, beta)
    loss, ccache = margin_cross_entropy_forward(f, y, 0.0)
    return loss, LSoftmaxCache(lcache, ccache)


def l_softmax_backward(dloss, cache):
    """Gradients ``(dx (n, d), dW (d, K))`` of ``dloss * L``."""
    df = margin_cross_entropy_backward(dloss, cache.ce)
    return large_margin_logits_backward(df, cache.logits)
