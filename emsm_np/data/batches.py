"""Seeded, resumable shuffling and batching.

The order of epoch ``e`` is a permutation drawn from a generator seeded by
``(seed, e)`` alone, and the augmentation of batch ``b`` from ``(seed, e, b)``
alone (NumPy ``SeedSequence`` spawn keys), never from state carried over from
earlier batches or epochs. A run restarted from a checkpoint taken after
batch ``k`` of epoch ``e`` therefore calls ``batches(..., epoch=e,
start_batch=k + 1)`` and gets exactly the batches the uninterrupted run would
have seen, augmentation included.

Where the data are on the GPU (CuPy arrays: the training loop copies the
training set there once, at the start of a run), the batches are gathered
there: the epoch's order is copied to the device once, at the epoch's start,
and each batch's indices are a slice of it. An augmentation that comes in two
halves (``augment.draw`` and ``augment.apply``, as
:func:`~emsm_np.data.augment.random_crop_flip` does) has the whole epoch's draws
made on the host at the epoch's start, from the same batch generators, and
copied up in one upload; a batch then costs no copy either way. The numbers are
those of the batch-by-batch path, on either device.
"""
import numpy as np

from .._checks import check_choice, check_int
from ..backend import asnumpy, get_array_module, get_cupy

# Spawn-key tags keep the shuffling and augmentation streams apart.
_SHUFFLE, _AUGMENT = 0, 1


def _generator(seed, *key):
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def epoch_order(n, seed, epoch, shuffle=True):
    """Indices (n,) int64 of epoch ``epoch``: a permutation from ``(seed, epoch)``, or 0..n-1."""
    n = check_int("n", n, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    epoch = check_int("epoch", epoch, minimum=0)
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return _generator(seed, _SHUFFLE, epoch, 0).permutation(n).astype(np.int64)


def batch_rng(seed, epoch, batch_index):
    """The generator the augmentation of batch ``batch_index`` of ``epoch`` draws from."""
    return _generator(seed, _AUGMENT, epoch, batch_index)


def num_batches(n, batch_size, drop_last=False):
    """Batches per epoch: ``n // batch_size``, plus one partial batch unless ``drop_last``."""
    n = check_int("n", n, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(x, y, batch_size, *, seed=0, epoch=0, shuffle=True, drop_last=False,
            augment=None, device="cpu", start_batch=0):
    """Iterate over the mini-batches ``(xb, yb)`` of one epoch.

    Parameters
    ----------
    x : (N, ...) array, the inputs (NumPy, or CuPy)
    y : (N,) array, the labels
    batch_size : int >= 1
    seed, epoch : ints >= 0; the epoch's order and augmentation depend on
        these alone (see the module docstring)
    shuffle : draw the order from ``(seed, epoch)``; False keeps 0..N-1
    drop_last : drop the last batch if it has fewer than ``batch_size`` items
    augment : None, or ``augment(xb, rng) -> xb`` applied to each input batch
        with the generator :func:`batch_rng` ``(seed, epoch, b)``, e.g.
        :func:`~emsm_np.data.augment.random_crop_flip`. If it has the attributes
        ``draw(rng, n) -> drawn`` (a NumPy array (k, n) of its random choices for
        ``n`` images) and ``apply(xb, drawn) -> xb``, the epoch's draws are made
        at its start and each batch is ``apply(xb, drawn of its images)``: the
        same result, with nothing copied between host and device per batch
    device : "cpu" (NumPy batches) or "gpu" (CuPy batches; an error, not a
        fallback, where no GPU is usable)
    start_batch : index of the first batch to yield, to resume an epoch;
        0 <= start_batch <= number of batches

    Yields
    ------
    xb : (B, ...) batch of ``x``, B = batch_size (or fewer in the last batch)
    yb : (B,) batch of ``y``
    """
    xp = get_array_module(x, y)
    if not hasattr(x, "shape") or not hasattr(y, "shape"):
        raise TypeError(f"x and y must be arrays, got {type(x).__name__} and {type(y).__name__}")
    if x.ndim < 1:
        raise ValueError("x must have a batch axis, got a 0-D array")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x, got {tuple(y.shape)}")
    total = num_batches(x.shape[0], batch_size, drop_last)
    start_batch = check_int("start_batch", start_batch, minimum=0)
    if start_batch > total:
        raise ValueError(f"start_batch must be <= {total} (the number of batches), got {start_batch}")
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be callable or None, got {type(augment).__name__}")
    check_choice("device", device, ("cpu", "gpu"))
    order = epoch_order(x.shape[0], seed, epoch, shuffle)
    cp = get_cupy() if device == "gpu" else None  # fails now, not at the first batch
    return _iterate(x, y, xp, order, batch_size, total, start_batch, augment, seed, epoch, cp)


def _iterate(x, y, xp, order, batch_size, total, start_batch, augment, seed, epoch, cp):
    n, first = x.shape[0], start_batch * batch_size
    if xp is not np:
        order = xp.asarray(order)  # one upload an epoch: each batch's indices are a view of it
    drawn = _epoch_draws(augment, n, batch_size, total, start_batch, seed, epoch, xp)
    for b in range(start_batch, total):
        lo, hi = b * batch_size, min((b + 1) * batch_size, n)
        idx = order[lo:hi]
        xb, yb = x[idx], y[idx]  # fancy indexing copies: x is never modified
        if drawn is not None:
            xb = augment.apply(xb, drawn[:, lo - first:hi - first])
        elif augment is not None:
            xb = augment(xb, batch_rng(seed, epoch, b))
        if cp is not None:
            xb, yb = cp.asarray(xb), cp.asarray(yb)  # uploads host batches; device ones stay as they are
        else:
            xb, yb = asnumpy(xb), asnumpy(yb)
        yield xb, yb


def _epoch_draws(augment, n, batch_size, total, start_batch, seed, epoch, xp):
    """The random draws of the augmentation of batches ``start_batch`` to ``total`` of the epoch, one
    column an image, on ``xp``'s device (one upload on the GPU); None for an augmentation that is not
    drawn ahead (no ``draw`` and ``apply``: called batch by batch) or none."""
    if not (hasattr(augment, "draw") and hasattr(augment, "apply")) or start_batch == total:
        return None
    sizes = [min(batch_size, n - b * batch_size) for b in range(start_batch, total)]
    drawn = np.concatenate([augment.draw(batch_rng(seed, epoch, b), size)
                            for b, size in zip(range(start_batch, total), sizes)], axis=1)
    return xp.asarray(drawn)
