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

On the GPU the gather runs on the device. :func:`crop_and_flip` checks the
window corners it is given, which costs a copy to the host for corners that
are on the device; the training batches (:func:`~emsm_np.data.batches.batches`)
use :func:`random_crop_flip`'s two halves instead (its ``draw`` and ``apply``
attributes): the epoch's corners and flips are drawn on the host, where they are
valid by construction, copied to the device in one upload, and each batch's crop is
the unchecked gather, with no transfer.
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
    n = x.shape[0]
    # Host data (lists too) is checked on the host, before its one copy to x's device;
    # corners given on the device are read back to be checked (a transfer each).
    top, left, flip = (get_array_module(a).asarray(a) for a in (top, left, flip))
    for name, a in (("top", top), ("left", left), ("flip", flip)):
        if a.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(a.shape)}")
    if n and (int(top.min()) < 0 or int(top.max()) > 2 * pad
              or int(left.min()) < 0 or int(left.max()) > 2 * pad):
        raise ValueError(f"top and left must lie in [0, {2 * pad}] for pad={pad}")
    top, left, flip = (xp.asarray(a) for a in (top, left, flip))
    return _crop_and_flip(x, top, left, flip, pad)


def _crop_and_flip(x, top, left, flip, pad):
    """:func:`crop_and_flip` without its checks: ``top``, ``left`` and ``flip`` are valid and on
    ``x``'s device, so nothing here reads an array back to the host."""
    xp = get_array_module(x, top, left, flip)
    n, c, h, w = x.shape
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

    Its two halves, for batches drawn ahead (see the module docstring):
    ``random_crop_flip.draw(rng, n)`` makes this function's draws for ``n`` images
    (:func:`draw_crop_flip`), and ``random_crop_flip.apply(x, drawn)`` crops ``x``
    by them (:func:`apply_crop_flip`), both with ``pad`` = 4. The two together
    give exactly this function's result.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    top, left, flip = draw_crop_flip(rng, x.shape[0], pad)
    return crop_and_flip(x, top, left, flip, pad)


def draw_crop_flip(rng, n, pad=4):
    """The random part of :func:`random_crop_flip` for ``n`` images: a (3, n) int64 NumPy array,
    its rows the window's ``top`` and ``left`` in [0, 2 pad] and ``flip`` (0 or 1), drawn from
    ``rng`` in :func:`random_crop_flip`'s order (n tops, n lefts, n flips)."""
    top = rng.integers(0, 2 * pad + 1, size=n)
    left = rng.integers(0, 2 * pad + 1, size=n)
    flip = rng.random(n) < 0.5
    return np.stack([top, left, flip]).astype(np.int64)


def apply_crop_flip(x, drawn, pad=4):
    """Crop and flip the (N, C, H, W) batch ``x`` by ``drawn``, a (3, N) array of
    :func:`draw_crop_flip` on ``x``'s device. Unchecked: made by :func:`draw_crop_flip`, its
    corners are in range, and on the GPU nothing is read back to the host."""
    return _crop_and_flip(x, drawn[0], drawn[1], drawn[2], pad)


random_crop_flip.draw = draw_crop_flip
random_crop_flip.apply = apply_crop_flip
