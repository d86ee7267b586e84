"""The large-margin logits of L-Softmax (Liu et al. 2016: the target logit of its loss, Eq. 4,
with psi of its Eqs. 5-6 and the annealing weight beta of its experimental settings, Sec. 5.1,
and code): Caffe's ``LargeMarginInnerProduct`` layer. (What each cited number rests on:
docs/paper.md, "The compared losses of Table 1".)

For features ``x`` (n, d), a classifier ``W`` (d, K), labels ``y`` and an integer
margin ``m``, with ``a_k = ||w_k||``, ``b_i = ||x_i||`` and ``c_i = cos(theta_i)`` the
cosine between ``x_i`` and its target column ``w_{y_i}``::

    z[i, j]   = x_i . w_j                                            every class j != y_i
    g_i       = a_{y_i} b_i psi(c_i)                                 (L-Softmax Eq. 6)
    z[i, y_i] = (beta x_i . w_{y_i} + g_i) / (1 + beta)

``psi`` is :mod:`emsm_np.functional.angular_margin`. ``beta = 0`` is the pure margin;
``beta -> inf`` gives back ``x W`` (plain softmax), and ``m = 1`` does too (``psi = c``).

Gradient. With ``s_i = dL/dz[i, y_i] / (1 + beta)`` the upstream of ``g_i``, the linear
part is a matrix product with the target entries scaled by ``beta / (1 + beta)``::

    D = dL/dz with D[i, y_i] = beta s_i:   dx = D W^T,   dW = x^T D        (+ the g terms)

and ``g_i = a b psi(c)`` with ``c = x^ . w^`` (``x^ = x / b``, ``w^ = w / a``)::

    dg/dc = a b psi'(c),    dg/db = a psi(c),    dg/da = b psi(c)
    dc/dx^ = w^,            dc/dw^ = x^

then back through each normalisation (``functional/normalize.py``: remove the radial
part, divide by the norm) and each norm (``db/dx = x^``, ``da/dw = w^``). Together::

    dg/dx = psi'(c) w_y + a (psi(c) - c psi'(c)) x^
    dg/dw_y = psi'(c) x + b (psi(c) - c psi'(c)) w^_y

(docs/derivations.md derives it). Neither has a ``1/||x||``: the gradient stays
bounded as ``||x|| -> 0``.

Stability. Norms are clamped below at ``eps = 1e-12`` as in ``normalize.py``: below
it the norm is the constant ``eps`` (a zero ``x_i`` gives ``g_i`` of order ``eps``,
and a finite gradient ``psi'(c) w_y``). ``c`` is clipped into ``[-1, 1]``; it can leave
that range only by rounding, so the gradient passes through the clip unchanged.
``psi`` is a polynomial in ``c``: nothing is singular at ``theta = 0`` or ``pi``.

Nothing here checks its arguments: the L- and A-Softmax losses and heads of
:mod:`emsm_np.losses` check them where they enter.
"""
from collections import namedtuple

from ..backend import get_array_module
from .angular_margin import psi_backward, psi_forward
from .normalize import EPS, normalize_backward, normalize_forward

LargeMarginCache = namedtuple(
    "LargeMarginCache",
    ["x", "W", "y", "beta", "x_hat", "xcache", "wcache", "w_hat_y", "a_y", "b", "psi", "pcache"],
)


def large_margin_logits_forward(x, W, y, margin, beta=0.0, eps=EPS):
    """Logits (n, K) with the target logit replaced by L-Softmax's.

    Parameters
    ----------
    x : (n, d) float array
    W : (d, K) float array, same dtype and device
    y : (n,) int array, labels in [0, K)
    margin : int >= 1, the angular margin m
    beta : float >= 0, the annealing weight of the plain logit
    eps : lower clamp of the norms

    Returns
    -------
    z : (n, K) array
    cache : LargeMarginCache, for :func:`large_margin_logits_backward`
    """
    xp = get_array_module(x, W)
    rows = xp.arange(x.shape[0])
    z = x @ W
    x_hat_t, xcache = normalize_forward(x.T, "column", eps)  # the columns of x^T are the rows of x
    w_hat, wcache = normalize_forward(W, "column", eps)
    x_hat, b = x_hat_t.T, xcache.norm[0]  # (n, d), (n,)
    w_hat_y, a_y = w_hat[:, y].T, wcache.norm[0][y]  # each sample's target column, (n, d) and (n,)
    c = xp.clip((x_hat * w_hat_y).sum(axis=1), -1.0, 1.0)  # cos(theta_i); off [-1, 1] only by rounding
    psi, pcache = psi_forward(c, margin)
    out = z.copy()
    out[rows, y] = (beta * z[rows, y] + a_y * b * psi) / (1.0 + beta)
    cache = LargeMarginCache(x, W, y, beta, x_hat, xcache, wcache, w_hat_y, a_y, b, psi, pcache)
    return out, cache


def large_margin_logits_backward(dz, cache):
    """Gradients ``(dx (n, d), dW (d, K))`` for the upstream ``dz`` (n, K)."""
    x, W, y, beta, x_hat, xcache, wcache, w_hat_y, a_y, b, psi, pcache = cache
    xp = get_array_module(dz, x, W)
    n, K = dz.shape
    rows = xp.arange(n)
    s = dz[rows, y] / (1.0 + beta)  # upstream of g_i
    D = dz.copy()
    D[rows, y] = beta * s  # the target logit keeps beta/(1+beta) of its linear part
    dx = D @ W.T
    dW = x.T @ D
    # g_i = a b psi(c), c = x^ . w^_y
    dc = psi_backward(s * a_y * b, pcache)  # the clip on c passes the gradient (rounding only)
    Y = xp.zeros((n, K), dtype=x.dtype)
    Y[rows, y] = 1.0  # one-hot: sums each class's samples into its column, no scatter
    dx_hat = dc[:, None] * w_hat_y
    dw_hat = x_hat.T @ (Y * dc[:, None])
    db = xp.where(xcache.clamped[0], 0.0, s * a_y * psi)  # a clamped norm is the constant eps
    da = xp.where(wcache.clamped[0], 0.0, (Y * (s * b * psi)[:, None]).sum(axis=0))
    dx += normalize_backward(dx_hat.T, xcache).T + db[:, None] * x_hat
    dW += normalize_backward(dw_hat, wcache) + da[None, :] * wcache.w_hat
    return dx.astype(x.dtype, copy=False), dW.astype(W.dtype, copy=False)
