"""Inverted dropout (Srivastava et al., 2014), with the mask passed in explicitly.

Each entry is kept with probability ``1 - p``; kept entries are scaled by
``1 / (1 - p)`` so that ``E[out] = x`` and test time needs no rescaling::

    out   = x * mask / (1 - p)            mask in {0, 1}, P(mask = 1) = 1 - p
    dL/dx = dout * mask / (1 - p)

The forward takes ``mask`` as an argument, so it is a deterministic function of
its inputs and can be gradient-checked; :func:`dropout_mask` draws one.

The forward does not check its inputs: :func:`emsm_np.ops.dropout_forward` does, once
(``functional/_inputs.py``); the backward checks ``dout`` against the mask (``check_like``).
"""
from collections import namedtuple

import numpy as np

from .._checks import check_array, check_like
from ._inputs import check_drop_probability

DropoutCache = namedtuple("DropoutCache", ["mask", "scale"])


def dropout_mask(x, p, rng=None):
    """Draw a keep-mask for ``x``: True with probability ``1 - p``, on x's device.

    Parameters
    ----------
    x : float array (NumPy or CuPy); only its shape and device are used
    p : float in [0, 1), drop probability
    rng : for a NumPy ``x``, a ``numpy.random.Generator`` or a seed (None: fresh
        entropy); for a CuPy ``x``, a ``cupy.random.RandomState`` or None (CuPy's
        global generator)

    Returns
    -------
    mask : bool array of ``x.shape``, on the same device as ``x``
    """
    xp = check_array("x", x)
    p = check_drop_probability(p)
    if xp is np:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return gen.random(x.shape) >= p
    gen = xp.random if rng is None else rng
    return gen.random_sample(x.shape) >= p


def dropout_forward(x, mask, p):
    """``out = x * mask / (1 - p)``.

    Parameters
    ----------
    x : float array, any shape
    mask : bool (or 0/1) array of ``x.shape`` on x's device, True where x is kept
    p : float in [0, 1), the drop probability the mask was drawn with

    Returns
    -------
    out : array like ``x``
    cache : DropoutCache
    """
    scale = 1.0 / (1.0 - p)
    out = x * mask.astype(x.dtype) * x.dtype.type(scale)
    return out, DropoutCache(mask, scale)


def dropout_backward(dout, cache):
    """``dx = dout * mask / (1 - p)``, the forward's mask and scale, for ``dout`` like its
    output (on x's device)."""
    mask, scale = cache
    check_like(dout, mask, ref_name="mask")
    return dout * mask.astype(dout.dtype) * dout.dtype.type(scale)
