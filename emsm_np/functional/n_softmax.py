"""N-Softmax loss (Wang, Xiang, Cheng, Yuille 2017, "NormFace: L2 hypersphere embedding for
face verification", Sec. 3): softmax cross-entropy of scaled cosines.

For features ``x`` (n, d), a classifier ``W`` (d, K), labels ``y`` and a scale ``s``,
with ``x^_i = x_i / ||x_i||`` and ``w^_j = w_j / ||w_j||``::

    cos[i, j] = x^_i . w^_j                     (n, K), in [-1, 1]
    f         = s cos
    L         = mean_i [ logsumexp_j f_{i, j} - f_{i, y_i} ]

Without the scale the logits would be stuck in [-1, 1] and the loss could not go below
``log(1 + (K-1) exp(-K/(K-1)))`` (NormFace Proposition 2, with the class columns
spread as a regular simplex); ``s`` is a fixed hyper-parameter
or learned with the network (NormFace Sec. 3.3).

Gradient, with ``G = dL/df = (softmax(f) - Y) / n``::

    dL/ds   = sum_ij G_ij cos_ij
    dL/dcos = s G
    dL/dx^  = s G W^T,        dL/dW^ = s x^T G
    dL/dx_i = (dL/dx^_i - x^_i (x^_i . dL/dx^_i)) / ||x_i||       (NormFace Eq. 5)

and the same for each column of ``W`` (``functional/normalize.py``; the rows of ``x``
are normalised as the columns of ``x^T``).

Stability. Norms are clamped below at ``eps = 1e-12`` (``normalize.py``). The gradient
with respect to ``x_i`` is orthogonal to ``x_i`` and grows as ``1 / ||x_i||``, as
NormFace notes (its Sec. 3.2): features near zero get large updates, at most
``1 / eps`` times the upstream at a zero feature (then ``x^ = 0``, all cosines 0):
finite, never NaN. The cosines are products of unit vectors and need no clip.

Nothing here checks its arguments: :func:`emsm_np.losses.n_softmax_loss` and the head
:class:`emsm_np.losses.NSoftmax` check them where they enter.
"""
from collections import namedtuple

from .margin_cross_entropy import margin_cross_entropy_backward, margin_cross_entropy_forward
from .normalize import normalize_backward, normalize_forward

NSoftmaxCache = namedtuple("NSoftmaxCache", ["x_hat", "w_hat", "xcache", "wcache", "cos", "scale", "ce", "dtype"])


def n_softmax_forward(x, W, y, scale=16.0):
    """Mean N-Softmax loss.

    Parameters
    ----------
    x : (n, d) float array; W : (d, K) float array; y : (n,) int array in [0, K)
    scale : float (or 0-d array on x's device, when learned), the scale s

    Returns
    -------
    loss : 0-d array
    cache : NSoftmaxCache
    """
    x_hat_t, xcache = normalize_forward(x.T, "column")  # the columns of x^T are the rows of x
    w_hat, wcache = normalize_forward(W, "column")
    x_hat = x_hat_t.T
    cos = x_hat @ w_hat
    loss, ccache = margin_cross_entropy_forward(scale * cos, y, 0.0)
    return loss, NSoftmaxCache(x_hat, w_hat, xcache, wcache, cos, scale, ccache, x.dtype)


def n_softmax_backward(dloss, cache):
    """Gradients ``(dx (n, d), dW (d, K), dscale (0-d))`` of ``dloss * L``."""
    x_hat, w_hat, xcache, wcache, cos, scale, ccache, dtype = cache
    G = margin_cross_entropy_backward(dloss, ccache)
    dscale = (G * cos).sum()
    dcos = scale * G
    dx = normalize_backward((dcos @ w_hat.T).T, xcache).T
    dW = normalize_backward(x_hat.T @ dcos, wcache)
    return dx.astype(dtype, copy=False), dW.astype(dtype, copy=False), dscale.astype(dtype, copy=False)
