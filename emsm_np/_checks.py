"""Input checks shared by the public API.

Each raises ``TypeError``/``ValueError`` with a message naming the argument,
what it got, and what was expected (see STYLE.md, "Habits").
"""
import numbers

import numpy as np

from .backend import get_array_module


def check_array(name, a, ndim=None, floating=True):
    """Check that ``a`` is a NumPy/CuPy array of the expected rank and kind."""
    xp = get_array_module(a)
    if not isinstance(a, (np.ndarray, xp.ndarray)):
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(a).__name__}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(a.shape)} ({a.ndim}-D)")
    if floating and a.dtype.kind != "f":
        raise TypeError(f"{name} must have a floating dtype (float32 or float64), got {a.dtype}")
    return xp


def check_finite(name, a):
    """Raise ValueError if ``a`` holds NaN or inf."""
    xp = get_array_module(a)
    if not bool(xp.isfinite(a).all()):
        raise ValueError(f"{name} must be finite, got an array containing NaN or inf")


def check_labels(name, y, n, num_classes):
    """Integer class labels of shape (n,) in [0, num_classes)."""
    xp = get_array_module(y)
    if not isinstance(y, (np.ndarray, xp.ndarray)):
        raise TypeError(f"{name} must be an integer array of shape ({n},), got {type(y).__name__}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the batch, got {tuple(y.shape)}")
    if n and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes}), got values in "
            f"[{int(y.min())}, {int(y.max())}]"
        )


def check_int(name, value, minimum=None):
    """A Python/NumPy integer (not bool), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(name, value, minimum=None, maximum=None, min_inclusive=True):
    """A finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if min_inclusive and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
        if not min_inclusive and value <= minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_dtype(name, dtype):
    """float32 or float64 (as a NumPy dtype)."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt
