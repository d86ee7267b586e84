"""The HSIC diversity term (Eq. 6) and the normalisation before it, on the GPU.

The same formulas as :mod:`emsm_np.functional.normalize` and
:mod:`emsm_np.functional.hsic`, in fewer kernels. The normalisation::

    r = max(||w||, eps),  w^ = w / r                 one product for the squares, one sum,
                                                     one fused kernel for (r, clamped), one division
    dL/dw = (g - w^ <w^, g>) / r  (g / r where the norm was clamped)
                                                     one product, one sum, one fused kernel

and the diversity of the V classifiers, with ``C_v = W^_v H`` and ``G_v = C_v^T C_v``:
the reference adds ``2 ||C_v C_u^T||_F^2`` over the pairs v < u, a loop of V(V-1)/2
terms; since ``||C_v C_u^T||_F^2 = tr(G_v G_u) = <G_v, G_u>_F``, the whole sum is

    D = sum_{v != u} <G_v, G_u> = sum_v <G_v, S - G_v>,   S = sum_u G_u
                                                     one sum, one fused kernel, one GEMM,
                                                     one sum, one fused kernel, one sum

whatever V. The caches are the reference's (``NormalizeCache``, ``HSICCache``), so
either route's backward reads either's; the backward of ``D`` is the reference's.
"""
from ..backend import get_array_module
from ..functional.hsic import HSICCache
from ..functional.normalize import EPS, NormalizeCache, _axes
from .fuse import fused


@fused
def norm_kernel(xp):
    def kernel(sum_of_squares, eps):
        norm = xp.sqrt(sum_of_squares)
        return xp.maximum(norm, eps), norm <= eps  # r, and where the clamp is active
    return kernel


@fused
def tangent_kernel(xp):
    def kernel(dw_hat, w_hat, radial, clamped, r):
        # Remove the radial component: rescaling w does not change w / ||w||.
        return (dw_hat - w_hat * (radial * ~clamped)) / r
    return kernel


@fused
def centered_kernel(xp):
    def kernel(w, row_sums, K):
        return w - row_sums / K  # W H: each row's mean over the K classes removed
    return kernel


@fused
def pairs_kernel(xp):
    def kernel(G, S):
        return G * (S - G)  # <G_v, sum_{u != v} G_u>, elementwise
    return kernel


def normalize_forward(W, mode="column", eps=EPS):
    """As :func:`emsm_np.functional.normalize.normalize_forward`, for CuPy arrays and the modes
    other than ``"none"`` (the identity: :mod:`emsm_np.ops` leaves it to the reference)."""
    xp = get_array_module(W)
    axes, centered = _axes(mode), mode == "centered"
    if centered:
        W = centered_kernel(xp)(W, W.sum(axis=-1, keepdims=True), W.shape[-1])
    r, clamped = norm_kernel(xp)((W * W).sum(axis=axes, keepdims=True), float(eps))
    w_hat = W / r
    return w_hat, NormalizeCache(w_hat, r, clamped, axes, centered)


def normalize_backward(dW_hat, cache):
    """As :func:`emsm_np.functional.normalize.normalize_backward`, for CuPy arrays (not mode ``"none"``)."""
    xp = get_array_module(dW_hat)
    w_hat, r, clamped, axes, centered = cache
    radial = (w_hat * dW_hat).sum(axis=axes, keepdims=True)
    dW = tangent_kernel(xp)(dW_hat, w_hat, radial, clamped, r)
    if centered:  # back through W -> W H (H symmetric): centre the gradient too
        dW = centered_kernel(xp)(dW, dW.sum(axis=-1, keepdims=True), dW.shape[-1])
    return dW


def hsic_diversity_forward(W_hat):
    """As :func:`emsm_np.functional.hsic.hsic_diversity_forward`, for CuPy arrays: ``(D, HSICCache)``."""
    xp = get_array_module(W_hat)
    C = centered_kernel(xp)(W_hat, W_hat.sum(axis=2, keepdims=True), W_hat.shape[2])  # W^_v H
    G = xp.matmul(C.transpose(0, 2, 1), C)  # H K_v H, (V, K, K)
    S = G.sum(axis=0)
    D = pairs_kernel(xp)(G, S).sum()
    return D, HSICCache(C, S, G)
