"""CPU worker threads: the independent pieces of one operation, run at once.

Part of the fast CPU routes (:mod:`emsm_np.cpu`); the reference operations in
:mod:`emsm_np.functional` use no threads.

Why: NumPy runs every elementwise pass (a ReLU, a batch-norm scale, the row
copies of an im2col) on one core, and only the GEMMs use every core, through
the BLAS's own threads. On a two-core machine that leaves half the CPU idle
for about a third of a training step. PyTorch threads every such pass.

How: an operation that walks the batch in pieces (the chunks of a convolution,
slices of an activation) hands contiguous groups of its pieces to a pool of
worker threads, one group per thread. NumPy releases the GIL inside its ufunc
loops, copies and BLAS calls, so the groups really run in parallel. While they
do, the BLAS is held to one thread, so that each worker's GEMM runs on its own
core instead of the two pools competing for the same cores.

Deterministic whatever the machine: an operation is cut into pieces whose
number does not depend on the thread count (:data:`PIECES`, or a size rule),
every piece is computed the same way whichever thread runs it (the BLAS held
to one thread), and partial sums are returned per piece and added in piece
order. So 1, 2 or 16 threads give bit-identical results.

The BLAS limit is process-wide (threadpoolctl): operations called from several
of the user's own threads at once still compute the right values, but may leave
the BLAS at one thread until the last of them returns.

CuPy arrays take no threads (the GPU is parallel already): the function runs
once on every piece. So does a call from inside a worker (no nested pools),
and every call when the thread count is 1 (:func:`set_num_threads`); the BLAS
is still held to one thread then, so that the pieces compute exactly what
worker threads would.
"""
import contextlib
import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["num_threads", "set_num_threads", "map_pieces", "for_slices", "for_batch", "sum_in_order",
           "MIN_PARALLEL_SIZE", "PIECES"]

# Below this many array elements, handing work to a thread (tens of microseconds)
# costs more than a second core saves: the operation is one piece.
MIN_PARALLEL_SIZE = 1 << 16
# Pieces of a batch (or channel) split, whatever the number of threads.
PIECES = 16

_lock = threading.Lock()
_local = threading.local()  # _local.inside is True in a worker thread
_config = {"threads": None, "pool": None, "pid": None, "blas": None}


def _default_threads():
    env = os.environ.get("EMSM_NUM_THREADS")
    if env is not None:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"EMSM_NUM_THREADS must be a positive integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"EMSM_NUM_THREADS must be a positive integer, got {env!r}")
        return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def num_threads():
    """Number of worker threads the CPU operations use (default: the usable cores,
    or the environment variable ``EMSM_NUM_THREADS``)."""
    if _config["threads"] is None:
        _config["threads"] = _default_threads()
    return _config["threads"]


def set_num_threads(n):
    """Use ``n`` worker threads for the CPU operations (1: no threads of our own)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"num_threads must be a positive integer, got {n!r}")
    with _lock:
        _config["threads"] = int(n)
        if _config["pool"] is not None:
            _config["pool"].shutdown(wait=True)
            _config["pool"] = None


def _pool():
    with _lock:
        # A forked child inherits the pool object but not its threads: it makes its own.
        if _config["pool"] is None or _config["pid"] != os.getpid():
            _config["pool"] = ThreadPoolExecutor(num_threads(), thread_name_prefix="emsm_np")
            _config["pid"] = os.getpid()
        return _config["pool"]


def _blas_one_thread():
    """A context holding the BLAS to one thread (threadpoolctl), restored on exit.

    Inside a worker thread the limit is already set: nothing to do."""
    if getattr(_local, "inside", False):
        return contextlib.nullcontext()
    with _lock:
        if _config["blas"] is None:
            from threadpoolctl import ThreadpoolController

            _config["blas"] = ThreadpoolController()
        return _config["blas"].limit(limits=1, user_api="blas")


def _run_inside(fn, group):
    _local.inside = True
    try:
        return fn(group)
    finally:
        _local.inside = False


def map_pieces(xp, fn, pieces):
    """``fn(group)`` for contiguous groups of ``pieces``, the groups run by worker threads at once.

    Parameters
    ----------
    xp : the array module of the operation (threads only for NumPy)
    fn : function of a list of pieces (one thread's share: it can hold buffers
        for all of them) returning a list with one result per piece; it must
        write only its own pieces' output
    pieces : list (batch slices, chunks); split into at most :func:`num_threads`
        contiguous groups of near-equal length

    Returns
    -------
    list of the pieces' results, in piece order, however the pieces were grouped
    """
    pieces = list(pieces)
    n_groups = min(num_threads(), len(pieces))
    if xp is not np:
        return fn(pieces)
    if n_groups < 2 or getattr(_local, "inside", False):
        with _blas_one_thread():  # every piece's GEMM as a worker thread would run it
            return fn(pieces)
    bounds = [len(pieces) * k // n_groups for k in range(n_groups + 1)]
    groups = [pieces[bounds[k] : bounds[k + 1]] for k in range(n_groups)]
    pool = _pool()
    with _blas_one_thread():
        # Each group runs in a copy of the caller's context, so np.errstate (a
        # context variable) holds in the workers too: training raises on overflow.
        futures = [pool.submit(contextvars.copy_context().run, _run_inside, fn, group) for group in groups]
        return [result for future in futures for result in future.result()]


def for_slices(xp, n, size, fn, pieces=PIECES):
    """``fn(s)`` for slices ``s`` that split ``range(n)`` (the batch axis), at once.

    Parameters
    ----------
    xp : the array module of the operation
    n : length of the axis to split (the batch, or the channels), or None for
        a 0-d array: ``fn(...)`` is called once, with an Ellipsis
    size : number of elements the operation touches; below
        :data:`MIN_PARALLEL_SIZE` it runs as one slice, else as ``pieces``
        slices (fewer if ``n`` is smaller), whatever the thread count
    fn : function of one slice, writing only that slice of its outputs
    pieces : int, the split (a GEMM per piece wants fewer, larger pieces)

    Returns
    -------
    list of ``fn``'s results, one per slice, in order
    """
    if n is None:
        return [fn(Ellipsis)]
    parts = pieces if (xp is np and size >= MIN_PARALLEL_SIZE) else 1
    parts = max(1, min(parts, n))
    slices = [slice(n * k // parts, n * (k + 1) // parts) for k in range(parts)]
    return map_pieces(xp, lambda group: [fn(s) for s in group], slices)



def for_batch(xp, a, fn):
    """:func:`for_slices` over the first axis of ``a``, sized by ``a`` (one call
    with an Ellipsis for a 0-d ``a``)."""
    return for_slices(xp, a.shape[0] if a.ndim else None, a.size, fn)


def sum_in_order(parts):
    """``parts[0] + parts[1] + ...``, added left to right (the pieces' partial sums:
    a fixed order keeps results deterministic). Adds into ``parts[0]``."""
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total
