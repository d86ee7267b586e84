"""Array backend: one code path for NumPy (CPU) and CuPy (GPU).

Every compute function in emsm_np starts with ``xp = get_array_module(x, ...)``
and then calls only ``xp.*``, so the same line runs on the CPU or the GPU
depending on where its inputs live (Chainer/CuPy's convention).

CuPy is optional. Nothing here imports it unless a GPU is asked for, or an
array that might be a CuPy array is inspected *and* CuPy is already imported
by the user (an array cannot be a CuPy array otherwise).

Asking for a GPU where there is none is an error (:class:`GPUUnavailableError`),
never a silent fall back to the CPU.

Nothing here knows about the tests' stand-in for CuPy: whatever ``import cupy``
gives is CuPy. The tests put a double of it there explicitly (see
:mod:`emsm_np.testing`), so that the whole GPU path runs, and fails where CuPy
would, on a machine without a GPU.
"""
import sys

import numpy as np

__all__ = [
    "GPUUnavailableError",
    "get_array_module",
    "gpu_available",
    "get_cupy",
    "asnumpy",
    "to_device",
    "device_of",
]


class GPUUnavailableError(RuntimeError):
    """A GPU (through CuPy) was asked for, and none can be used here."""


def _cupy_if_imported():
    # An array can only be a CuPy array if cupy has been imported already;
    # looking in sys.modules avoids importing CuPy (slow, and it may be
    # installed without a usable GPU) on CPU-only machines.
    return sys.modules.get("cupy")


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``.

    Non-array arguments (``None``, Python scalars) are ignored.
    """
    cp = _cupy_if_imported()
    if cp is not None:
        for a in arrays:
            if isinstance(a, cp.ndarray):
                return cp
    return np


def gpu_available():
    """True when CuPy is installed *and* a CUDA device can be used.

    ``import cupy`` succeeds on machines without a GPU, so this asks
    ``cupy.cuda.is_available()`` as well.
    """
    try:
        import cupy
    except Exception:  # ImportError, or a broken CUDA install raising on import
        return False
    try:
        return bool(cupy.cuda.is_available())
    except Exception:
        return False


def get_cupy():
    """Import and return CuPy, or raise :class:`GPUUnavailableError` saying why."""
    try:
        import cupy
    except ImportError as exc:
        raise GPUUnavailableError(
            "a GPU was requested but CuPy is not installed; on a machine with an NVIDIA GPU, "
            "from the emsm_np checkout: pip install -e '.[gpu]' for CUDA 12, or "
            "pip install -e '.[gpu-cuda13]' for CUDA 13 (nvidia-smi shows the CUDA version); "
            "or use the CPU (--device cpu)"
        ) from exc
    try:
        ok = bool(cupy.cuda.is_available())
    except Exception as exc:  # pragma: no cover - depends on the CUDA install
        raise GPUUnavailableError(f"a GPU was requested but CUDA failed: {exc}") from exc
    if not ok:
        raise GPUUnavailableError(
            "a GPU was requested but CuPy reports no usable CUDA device "
            "(cupy.cuda.is_available() is False); use the CPU (--device cpu)"
        )
    return cupy


def asnumpy(a):
    """Return ``a`` as a NumPy array (copying from the GPU if needed)."""
    cp = _cupy_if_imported()
    if cp is not None and isinstance(a, cp.ndarray):
        return cp.asnumpy(a)
    return np.asarray(a)


def device_of(a):
    """``"gpu"`` for a CuPy array, ``"cpu"`` otherwise."""
    return "gpu" if get_array_module(a) is not np else "cpu"


def to_device(obj, device):
    """Move an array, or every array in a layer/model, to ``device``.

    Parameters
    ----------
    obj : array or object with ``params``/``grads``/``buffers`` dicts
        (a layer) or a ``to(device)`` method (a ``Sequential``).
    device : {"cpu", "gpu"}

    Returns the moved array, or the layer itself (moved in place).
    """
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    if hasattr(obj, "to") and callable(obj.to):
        return obj.to(device)
    if device == "cpu":
        return asnumpy(obj)
    cp = get_cupy()
    return cp.asarray(obj)
