"""Input checks shared by the public API, made where data enters: the layers, the heads, the
public ``*_loss`` functions and the command line (``emsm_np.functional`` holds the derivations
and checks nothing the heads have checked already; its docstrings say which functions check).

Each raises ``TypeError``/``ValueError`` with a message naming the argument,
what it got, and what was expected (docs/contributing.md, "Bad input"); a NaN or
inf where a finite value is needed is the typed :class:`NonFiniteError`, which
:class:`non_finite_in` also raises for an inf or NaN that NumPy reports while a
named computation runs (the training loop's divergence, :mod:`emsm_np.training.loop`).
"""
import numbers

import numpy as np

from .backend import device_of, get_array_module


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


class NonFiniteError(ValueError, FloatingPointError):
    """A NaN or inf where a finite value is needed, raised where it is found.

    ``where`` names the computation that made it ("the forward pass of layer 3 (Conv2d)",
    see :class:`non_finite_in`), or is None for an argument check (:func:`check_finite`).
    The message is the finder's own: the check's, or NumPy's ("overflow encountered in
    matmul"). A ValueError (a bad value) and a FloatingPointError (what NumPy raises, which
    :class:`non_finite_in` replaces): whatever caught either before still catches it.
    """

    def __init__(self, message, where=None):
        super().__init__(message)
        self.where = where


class non_finite_in:  # lower case: a context manager, used as contextlib.suppress is
    """``with non_finite_in("the SGD update"): ...``: NumPy's FloatingPointError (raised where an
    inf or NaN is made, under ``np.errstate(over="raise", ...)``) leaves as a :class:`NonFiniteError`
    naming ``where``. Anything else passes as it is, a NonFiniteError from a computation nested
    inside included: the innermost name wins. Without that errstate (the default) NumPy raises
    nothing and this does nothing."""

    def __init__(self, where):
        self.where = where

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is FloatingPointError:  # exactly NumPy's: its subclasses are named already
            raise NonFiniteError(str(exc), self.where) from exc
        return False


def _is_array(a):
    # NumPy or CuPy array; CuPy is only looked for if it is already imported
    # (get_array_module), so this never imports it.
    return isinstance(a, (np.ndarray, get_array_module(a).ndarray))


def _named_arrays(named):
    """The ``(name, array)`` pairs that hold an array (``None`` and scalars skipped)."""
    out = []
    for name, a in named:
        if a is None or isinstance(a, (numbers.Number, np.generic)):
            continue  # an absent bias, or a host scalar (an upstream gradient of 1.0)
        if not _is_array(a):
            raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(a).__name__}")
        out.append((name, a))
    return out


def check_same_device(*named):
    """Raise TypeError unless every array in ``(name, array)`` pairs is on one device.

    Reads the arrays' types only: no data moves between host and device.
    ``None`` and Python/NumPy scalars are skipped.
    """
    named = _named_arrays(named)
    if not named:
        return
    first, a0 = named[0]
    where = device_of(a0)
    for name, a in named[1:]:
        if device_of(a) != where:
            raise TypeError(
                f"{first} is on the {where} but {name} is on the {device_of(a)}; move one of "
                f"them (emsm_np.backend.to_device, or layer.to(device)) so both are on one device"
            )


def check_same(*named):
    """Raise TypeError unless the arrays in ``(name, array)`` pairs share one device and one dtype.

    ``check_same(("x", x), ("weight", w), ("bias", b))``: the message names the
    first argument and the one that differs, e.g. "x has dtype float32 but
    weight has dtype float64". Reads metadata (type, dtype) only: no data moves
    between host and device. ``None`` (an absent bias) and scalars are skipped.
    """
    check_same_device(*named)
    named = _named_arrays(named)
    if not named:
        return
    first, a0 = named[0]
    for name, a in named[1:]:
        if a.dtype != a0.dtype:
            raise TypeError(
                f"{first} has dtype {a0.dtype} but {name} has dtype {a.dtype}; they must share "
                f"one dtype: convert one of them (e.g. {first}.astype({name}.dtype))"
            )


def check_finite(name, a):
    """Raise :class:`NonFiniteError` (a ValueError) if ``a`` holds NaN or inf -- for NumPy arrays.

    The values of a GPU array are not read: that would copy a flag to the host
    and stall the GPU at every call. On the GPU a NaN shows in the loss, which
    the training loop watches on the device (:mod:`emsm_np.training.loop`).
    """
    if isinstance(a, np.ndarray) and not bool(np.isfinite(a).all()):
        raise NonFiniteError(f"{name} must be finite, got an array containing NaN or inf")


def check_labels(name, y, n, num_classes):
    """Integer class labels of shape (n,), in [0, num_classes) (the range for NumPy labels)."""
    xp = get_array_module(y)
    if not isinstance(y, (np.ndarray, xp.ndarray)):
        raise TypeError(f"{name} must be an integer array of shape ({n},), got {type(y).__name__}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the batch, got {tuple(y.shape)}")
    # The range needs the values: checked for NumPy labels only (on the GPU it would
    # stall every call; the data loaders check the labels once, on the host).
    if n and isinstance(y, np.ndarray) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
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
        raise NonFiniteError(f"{name} must be finite, got {value}")
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


def check_like(dout, ref, shape=None, name="dout", ref_name="x"):
    """An upstream gradient for a backward pass: ``dout`` on ``ref``'s device, of the forward
    output's ``shape`` (default ``ref.shape``); ``ref`` None checks the shape only.

    ``check_like(dout, cache.x, (N, K))``: "dout must have the forward output's shape (4, 2),
    got (4, 3)", or "dout is on the gpu but x is on the cpu; ...". Reads metadata only.
    """
    if ref is not None:
        check_same_device((name, dout), (ref_name, ref))
    shape = tuple(ref.shape if shape is None else shape)
    if tuple(dout.shape) != shape:
        raise ValueError(f"{name} must have the forward output's shape {shape}, got {tuple(dout.shape)}")


def check_features(x, d, name, A, y=None, K=None, verb="expects"):
    """Features ``x`` (n, d) for the array ``A`` named ``name`` ("W", "centers") that fixes ``d``,
    and, when given, labels ``y`` (n,) in [0, K) on x's device; the message names both arrays."""
    if x.shape[1] != d:
        raise ValueError(
            f"x has {x.shape[1]} features but {name} {verb} d = {d}: "
            f"x must be (n, {d}) for {name} of shape {tuple(A.shape)}, got x {tuple(x.shape)}"
        )
    if y is not None:
        check_labels("y", y, x.shape[0], K)
        check_same_device(("x", x), ("y", y))


def check_features_for_classifier(x, W, d, K, y=None):
    """Features ``x`` (n, d) and labels ``y`` (n,) in [0, K) for a classifier ``W`` with ``d``
    inputs and ``K >= 2`` classes (W's own shape is checked by the caller); name the argument."""
    if K < 2:
        raise ValueError(f"W must have at least 2 classes in its last axis (K >= 2), got shape {tuple(W.shape)}")
    check_features(x, d, "W", W, y, K)
