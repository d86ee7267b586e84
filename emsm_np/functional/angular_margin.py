"""The angular margin function psi of L-Softmax (Liu et al. 2016, Eq. 6) and A-Softmax
(Liu et al. 2017a), as a function of ``c = cos(theta)``.

For an integer margin ``m >= 1`` and ``theta`` in ``[k pi/m, (k+1) pi/m]``
(``k = 0, ..., m-1``)::

    psi(theta) = (-1)^k cos(m theta) - 2k

which is monotonically decreasing on ``[0, pi]`` and continuous at the segment
boundaries (both sides give ``1 - 2k`` at ``theta = k pi/m``). No ``arccos`` is
taken: ``cos(m theta) = T_m(c)``, the Chebyshev polynomial of the first kind, and
the segment is found from ``c`` alone, since ``cos`` decreases on ``[0, pi]``::

    k = #{ j in 1..m-1 : c < cos(j pi/m) }

``T_m`` by its recurrence ``T_0 = 1, T_1 = c, T_{j+1} = 2c T_j - T_{j-1}``; for the
margins of the papers it is the expansion the L-Softmax and SphereFace codes write
out: ``T_2 = 2c^2 - 1``, ``T_3 = 4c^3 - 3c``, ``T_4 = 8c^4 - 8c^2 + 1``.

Derivative with respect to ``c``: ``d cos(m theta)/d cos(theta) = m sin(m theta) /
sin(theta) = m U_{m-1}(c)`` with ``U`` the Chebyshev polynomial of the second kind
(``U_0 = 1, U_1 = 2c, U_{j+1} = 2c U_j - U_{j-1}``), a polynomial: no division by
``sin(theta)``, finite at ``theta = 0`` and ``pi``::

    dpsi/dc = (-1)^k m U_{m-1}(c)

At a segment boundary ``sin(m theta) = 0``, so ``dpsi/dc = 0`` from both sides:
``psi`` is continuously differentiable in ``c`` everywhere (its second derivative
jumps there), and finite differences need not avoid the boundaries (the tests check
both sides anyway). ``m = 1`` gives ``psi = c``, the plain cosine.

Nothing here checks its arguments: the L- and A-Softmax losses and heads of
:mod:`emsm_np.losses` (the margin an integer >= 1) check them where they enter.
"""
from collections import namedtuple
import math

from ..backend import get_array_module

PsiCache = namedtuple("PsiCache", ["sign", "dpsi_dc"])


def chebyshev_t_u(c, m):
    """``(T_m(c), U_{m-1}(c))`` by the three-term recurrences; ``c`` any array, ``m >= 1``."""
    xp = get_array_module(c)
    t_prev, t = xp.ones_like(c), c  # T_0, T_1
    u_prev, u = xp.zeros_like(c), xp.ones_like(c)  # U_{-1} = 0, U_0
    for _ in range(m - 1):
        t_prev, t = t, 2 * c * t - t_prev
        u_prev, u = u, 2 * c * u - u_prev
    return t, u


def psi_forward(c, margin):
    """``psi`` at ``c = cos(theta)`` (any shape, values in [-1, 1]) for integer ``margin >= 1``.

    Returns
    -------
    psi : array like ``c``, ``(-1)^k T_m(c) - 2k``
    cache : PsiCache(sign (-1)^k, dpsi_dc = (-1)^k m U_{m-1}(c))
    """
    xp = get_array_module(c)
    k = xp.zeros_like(c)
    for j in range(1, margin):  # the segment: how many boundaries cos(j pi/m) lie above c
        k += c < math.cos(j * math.pi / margin)
    sign = 1.0 - 2.0 * (k % 2)  # (-1)^k
    t, u = chebyshev_t_u(c, margin)
    psi = sign * t - 2.0 * k
    return psi, PsiCache(sign, sign * margin * u)


def psi_backward(dpsi, cache):
    """``dc = dpsi * dpsi/dc``, array like ``c``."""
    return dpsi * cache.dpsi_dc
