"""Fast CPU routes: the operations of :mod:`emsm_np.functional`, computed faster on NumPy arrays.

Each module here computes what its namesake in :mod:`emsm_np.functional` (the
reference) computes, in another order or with worker threads, and is tested
against it on the same inputs (``tests/test_cpu_routes.py``). :mod:`emsm_np.ops`
decides which route runs; read the reference first. Like the reference, these
routes do not validate their forward inputs: :mod:`emsm_np.ops` checks them once
(:mod:`emsm_np.functional._inputs`) before it dispatches.

- :mod:`~emsm_np.cpu.threads`: worker threads over fixed pieces (results do not
  depend on the thread count);
- :mod:`~emsm_np.cpu.conv2d`, :mod:`~emsm_np.cpu.conv2d_rows`: chunked im2col,
  the row im2col at stride 1, per-image GEMMs for thin first layers, the
  flipped-kernel input gradient;
- :mod:`~emsm_np.cpu.max_pool2d`: 2x2 windows at stride 2 by pairwise maxima;
- :mod:`~emsm_np.cpu.relu`, :mod:`~emsm_np.cpu.prelu`, :mod:`~emsm_np.cpu.linear`,
  :mod:`~emsm_np.cpu.batch_norm`: the batch (or the channels) split between threads.
"""
from . import batch_norm, conv2d, conv2d_rows, linear, max_pool2d, prelu, relu, threads
from .threads import num_threads, set_num_threads

__all__ = ["threads", "conv2d", "conv2d_rows", "max_pool2d", "relu", "prelu", "linear", "batch_norm",
           "num_threads", "set_num_threads"]
