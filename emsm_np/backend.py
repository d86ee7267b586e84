"""Array backend: one code path for NumPy (CPU) and CuPy (GPU).

Every compute function in emsm_np starts with ``xp = get_array_module(x, ...)``
and then calls only ``xp.*``, so the same line runs on the CPU or the GPU
depending on where its inputs live (Chainer/CuPy's convention).

CuPy is optional. Nothing here imports it unless a GPU is asked for, or an
array that might be a CuPy array is inspected *and* CuPy is already imported
by the user (an array cannot be a CuPy array otherwise).

Asking for a GPU where there is none is an error (:class:`GPUUnavailableError`),
never a silent fall back to the CPU.

TF32 (:func:`set_tf32`, :func:`tf32_enabled`): CuPy's float32 matrix products run in
full float32 unless ``CUPY_TF32=1`` is set; ``emsm train --tf32`` turns TF32 on.

Nothing here knows about the tests' stand-in for CuPy: whatever ``import cupy``
gives is CuPy. The tests put a double of it there explicitly (see
:mod:`emsm_np.testing`), so that the whole GPU path runs, and fails where CuPy
would, on a machine without a GPU.
"""
import os
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
    "set_tf32",
    "tf32_enabled",
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


# TF32. CuPy decides per dtype, once, whether float32 matrix products (matmul, dot, tensordot,
# so every convolution and linear layer here) may use TF32: at its first float32 product it reads
# CUPY_TF32 (``int(os.getenv('CUPY_TF32', '0')) > 0``) and keeps the answer in a module-level list
# (``get_compute_type`` in ``cupy/_core/_routines_linalg.pyx``, CuPy 13 and 14). Setting the
# variable after that product changes nothing; ``set_compute_type(dtype, COMPUTE_TYPE_TF32)`` of the
# same module does, at once. TF32 keeps float32's range and rounds the products' inputs to 10 bits
# of mantissa (a relative rounding error up to 2^-11, about 5e-4, per input, against float32's
# 2^-24, 6e-8); it needs compute capability
# 8.0 or more (Ampere), and CuPy falls back to full float32, with a warning, below that.
_COMPUTE_TYPE_DEFAULT, _COMPUTE_TYPE_TF32 = 1, 7  # CuPy's COMPUTE_TYPE_* (cupy/_core/_routines_linalg.pxd)


def _cupy_linalg():
    """CuPy's module that holds the compute type, if CuPy is imported and has it (not the tests'
    double, nor a CuPy that moved it): else None."""
    if "cupy" not in sys.modules:
        return None
    try:
        from cupy._core import _routines_linalg
    except ImportError:
        return None
    if not hasattr(_routines_linalg, "set_compute_type"):
        return None
    return _routines_linalg


def set_tf32(enabled):
    """Let CuPy's float32 matrix products use TF32 (``True``) or not (``False``), from now on.

    Sets ``CUPY_TF32`` (``"1"`` or ``"0"``), which CuPy reads at its first float32 product, and,
    where CuPy is imported already, sets its compute type directly, since CuPy reads the variable
    only once: the choice takes effect whether or not a product has run. NumPy (``--device cpu``)
    has no TF32; float64 products never use it.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, got {enabled!r}")
    os.environ["CUPY_TF32"] = "1" if enabled else "0"
    linalg = _cupy_linalg()
    if linalg is not None:
        kind = getattr(linalg, "COMPUTE_TYPE_TF32" if enabled else "COMPUTE_TYPE_DEFAULT",
                       _COMPUTE_TYPE_TF32 if enabled else _COMPUTE_TYPE_DEFAULT)
        linalg.set_compute_type(np.float32, kind)


def tf32_enabled():
    """Whether CuPy's next float32 matrix product may use TF32: CuPy's own setting where CuPy is
    imported (False on a GPU without TF32), else what ``CUPY_TF32`` will make it."""
    linalg = _cupy_linalg()
    if linalg is not None:
        return linalg.get_compute_type(np.float32) == getattr(linalg, "COMPUTE_TYPE_TF32", _COMPUTE_TYPE_TF32)
    value = os.environ.get("CUPY_TF32", "0")
    try:
        return int(value) > 0
    except ValueError:
        raise ValueError(f"CUPY_TF32 must be an integer (CuPy reads int(CUPY_TF32) > 0), got {value!r}") from None
