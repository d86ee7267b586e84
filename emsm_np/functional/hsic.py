"""HSIC diversity between weak classifiers (Eqs. 1, 5-6 of Wang et al. 2018; its gradient, Eq. 9).

With a linear kernel, the HSIC between two classifiers ``W_v, W_u`` (d, K),
viewed as K samples (one per class column), is proportional to::

    HSIC(W_v, W_u) = (K-1)^-2 tr(K_v H K_u H),   K_v = W_v^T W_v (K, K),   H = I_K - 11^T / K

(Eq. 5). Eq. 6 drops the constant (K-1)^-2 ("ignoring the scaling factor"), and
so does emsm_np. The cyclic property of the trace gives the form in the paper,
``tr(W_v H W_u^T W_u H W_v^T)``. The ensemble's diversity penalty sums over
ordered pairs, as Eq. 6 does::

    D = sum_v sum_{u != v} tr(W^_v H W^_u^T W^_u H W^_v^T)          (Eq. 6)

computed, as the paper says ("we use the normalized weak classifiers to compute
the diversity"), on normalised classifiers ``W^_v``; which normalisation, the
paper does not say (see ``normalize.py``).

Implementation. Let ``C_v = W^_v H`` (each row of ``W^_v`` centred over the
classes) and ``G_v = C_v^T C_v = H K_v H`` (K, K). Then
``tr(K_v H K_u H) = <G_v, G_u>_F = ||C_v C_u^T||_F^2``, so::

    D = sum_{v != u} ||C_v C_u^T||_F^2  =  2 sum_{v < u} ||C_v C_u^T||_F^2

a sum of squares, computed as such: never negative, and exact where the
classifiers are fully diverse (the equal ``||S||_F^2 - sum_v ||G_v||_F^2``,
``S = sum_v G_v``, cancels there and can print -1e-14).

Gradient. ``dD/dG_v = 2 sum_{u != v} G_u = 2 (S - G_v) =: 2 M_v``; through
``G_v = C_v^T C_v`` and ``C_v = W^_v H`` (H symmetric, idempotent, H M_v = M_v)::

    dD/dW^_v = 4 W^_v M_v,     M_v = sum_{u != v} H W^_u^T W^_u H       (exact)

The paper states the HSIC part of the gradient as ``lambda W_v K_v`` (after Eq. 7
and in Eq. 9; its "K_v" is our ``M_v``), which :func:`paper_hsic_gradient` returns:
why that is a quarter of this, and what it means for lambda, docs/derivations.md,
"The paper's HSIC gradient: a quarter of the exact one".

The forward and backward do not check their arguments: the heads and
:func:`emsm_np.losses.em_softmax_loss` check them where they enter.
:func:`paper_hsic_gradient`, which :mod:`emsm_np.losses` exports as it is, checks its one.
"""
from collections import namedtuple

from .._checks import check_array
from ..backend import get_array_module

HSICCache = namedtuple("HSICCache", ["centered", "gram_sum", "gram"])
HSICCache.__doc__ = ("centered C = W^ H (V, d, K), gram_sum S = sum_v G_v (K, K), "
                     "gram G_v = C_v^T C_v (V, K, K): what the gradient 4 W^_v (S - G_v) reads.")


def hsic_diversity_forward(W_hat):
    """Sum over ordered pairs of the linear-kernel HSIC between classifiers (Eq. 6).

    Parameters
    ----------
    W_hat : (V, d, K) float array, the (normalised) weak classifiers

    Returns
    -------
    D : 0-d array, ``sum_{v != u} tr(W^_v H W^_u^T W^_u H W^_v^T)``; 0 for V = 1
    cache : HSICCache(centered C (V, d, K), gram_sum S (K, K), gram G (V, K, K))
    """
    xp = get_array_module(W_hat)
    V = W_hat.shape[0]
    C = W_hat - W_hat.mean(axis=2, keepdims=True)  # W^_v H
    G = xp.matmul(C.transpose(0, 2, 1), C)  # H K_v H, (V, K, K)
    D = xp.zeros((), dtype=W_hat.dtype)
    for v in range(V):  # V is small (the ensemble): the unordered pairs v < u
        for u in range(v + 1, V):
            D = D + 2 * (xp.matmul(C[v], C[u].T) ** 2).sum()
    return D, HSICCache(C, G.sum(axis=0), G)


def hsic_diversity_backward(dD, cache):
    """Gradient of ``D`` with respect to ``W_hat``: ``4 dD W^_v M_v`` (exact; Eq. 9 writes ``W_v K_v``).

    Parameters
    ----------
    dD : scalar (or 0-d array on W_hat's device), upstream gradient of ``D``
    cache : HSICCache from :func:`hsic_diversity_forward`: C (V, d, K), S (K, K), G (V, K, K)

    Returns
    -------
    dW_hat : (V, d, K) array, ``4 dD C_v M_v`` with ``M_v = S - G_v`` (K, K)
    """
    xp = get_array_module(cache.centered)
    C, S, G = cache
    M = S[None] - G  # sum over u != v of H K_u H
    # C_v M_v = W^_v H M_v = W^_v M_v because H M_v = M_v.
    return (4 * dD) * xp.matmul(C, M)


def paper_hsic_gradient(W_hat):
    """The paper's HSIC gradient (Eq. 9), ``W^_v K_v`` with ``K_v = sum_{u!=v} H W^_u^T W^_u H``:
    ``hsic_diversity_backward(1, cache) / 4``, with respect to the normalised classifier.

    Parameters
    ----------
    W_hat : (V, d, K) float array

    Returns
    -------
    (V, d, K) array
    """
    check_array("W_hat", W_hat, ndim=3)
    _, cache = hsic_diversity_forward(W_hat)
    C, S, G = cache
    xp = get_array_module(C)
    return xp.matmul(C, S[None] - G)
