"""Test helpers that ship with emsm_np.

:mod:`emsm_np.testing.cupy_double` is a ``cupy`` backed by NumPy that enforces
CuPy's rules (no implicit host copies, no host arrays in device computations,
only the names CuPy has) and counts device->host transfers, so that the GPU
code path runs, and fails where CuPy would, on a machine without a GPU.
"""
