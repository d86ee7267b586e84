"""The standard CIFAR augmentation ("+" in the paper's tables), vectorised.

Each training image is padded by ``pad`` = 4 zero pixels on every side, a
random 32x32 window of the 40x40 padded image is cut out, and with
probability 1/2 the window is mirrored left-right. Zero padding is applied to
the mean-subtracted images, i.e. the border is the training-set mean colour.

The whole batch is done by one gather: for image ``n`` with window corner
``(top[n], left[n])``, output pixel ``(i, j)`` reads padded pixel::

    (top[n] + i,  left[n] + j)              not flipped
    (top[n] + i,  left[n] + W - 1 - j)      flipped

so there is no Python loop over images.
"""
import numpy as np

from .._checks import check_int
from ..backend import get_array_module


def crop_and_flip(x, top, left, flip, pad=4):
    """Pad with zeros, cut a window at ``(top, left)``, mirror where ``flip``.

    Parameters
    ----------
    x : (N, C, H, W) array (NumPy or CuPy)
    top, left : (N,) integer arrays in [0, 2 * pad], the window's corner in
        the padded (H + 2 pad, W + 2 pad) image
    flip : (N,) bool array, mirror the window left-right
    pad : int >= 0

    Returns
    -------
    (N, C, H, W) array, same dtype and array module as ``x`` (a new array)
    """
    xp = get_array_module(x)
    pad = check_int("pad", pad, minimum=0)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    top, left, flip = (xp.asarray(a) for a in (top, left, flip))
    for name, a in (("top", top), ("left", left), ("flip", flip)):
        if a.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(a.shape)}")
    if n and (int(top.min()) < 0 or int(top.max()) > 2 * pad
              or int(left.min()) < 0 or int(left.max()) > 2 * pad):
        raise ValueError(f"top and left must lie in [0, {2 * pad}] for pad={pad}")
    padded = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = top[:, None] + xp.arange(h)                      # (N, H)
    cols = left[:, None] + xp.arange(w)                     # (N, W)
    cols = xp.where(flip.astype(bool)[:, None], cols[:, ::-1], cols)
    # Four broadcast index arrays -> (N, C, H, W): image n, channel c,
    # row rows[n, i], column cols[n, j].
    return padded[
        xp.arange(n)[:, None, None, None],
        xp.arange(c)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def random_crop_flip(x, rng, pad=4):
    """Random pad-``pad`` crop and horizontal flip of every image of the batch.

    Parameters
    ----------
    x : (N, C, H, W) array (NumPy or CuPy)
    rng : numpy.random.Generator; draws, in order, N tops, N lefts, N flips
    pad : int >= 0

    Returns
    -------
    (N, C, H, W) array like ``x``
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    n = x.shape[0]
    top = rng.integers(0, 2 * pad + 1, size=n)
    left = rng.integers(0, 2 * pad + 1, size=n)
    flip = rng.random(n) < 0.5
    return crop_and_flip(x, top, left, flip, pad)
