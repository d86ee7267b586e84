"""A stand-in for ``cupy``, backed by NumPy, that enforces what CuPy enforces.

emsm_np runs on the GPU through CuPy: every compute function takes its array
module from its inputs (:func:`emsm_np.backend.get_array_module`) and calls
only ``xp.*``. Most machines that run the tests have no GPU, so that path
would go untested where it breaks most easily: a NumPy function CuPy lacks, a
host array mixed into a device computation, a silent copy back to the host.
This module is a ``cupy`` whose arrays live in NumPy but behave at the
host/device boundary like CuPy's. Installed as ``cupy`` (:func:`installed`),
it lets the GPU code path run on the CPU and fail where CuPy would fail.

What it enforces, as CuPy 14.2 does (``cupy/_core/core.pyx``, ``_kernel.pyx``,
``_routines_indexing.pyx``):

* Its arrays are their own type, :class:`ndarray`, not ``numpy.ndarray``.
  ``numpy.asarray(a)``, ``numpy.array(a)`` and ``a.__array__()`` raise
  ``TypeError`` with CuPy's message; only ``a.get()`` and :func:`asnumpy`
  copy to the host, :func:`asarray` and :func:`array` to the device.
* No host array enters a device computation. A ``numpy.ndarray`` (even a 0-d
  one) or a list as an operand of a ufunc, an operator (``+``, ``@``, ...),
  ``matmul`` or ``concatenate``/``stack`` raises ``TypeError: Unsupported type
  <class ...>``. Python scalars and NumPy scalars (``2.0``, ``np.float32(2)``)
  are allowed. ``a[...] = host_array`` raises CuPy's "non-scalar numpy.ndarray
  cannot be used for fill" (a ``ValueError`` in CuPy; here an exception that is
  both a ``ValueError`` and a ``TypeError``). What CuPy does copy up on its own
  -- host arrays used as indices, values assigned through an array index --
  is allowed, and counted as an upload.
* Only CuPy's names. Each namespace (``cupy``, ``cupy.random`` with its
  ``RandomState``, ``cupy.cuda``, the array's methods) offers a name only if
  it is in ``cupy_names.json`` (read from an installed CuPy by
  ``scripts/cupy_names.py``) and NumPy can do it:
  ``cupy.insert`` raises ``AttributeError`` here as it does on the GPU. CuPy's
  arrays have no ``__index__``, so neither do these.
* Results stay on the device: a reduction, ``a[0, 0]`` or ``cupy.allclose``
  gives a 0-d array, never a NumPy scalar.

What it counts (:func:`counts`, :func:`counting`). On a GPU every device->host
transfer in a training step is a stall: the host waits for every kernel queued
before it, then the GPU idles while Python catches up. The double counts them,
with the emsm_np line that asked for each, so a test can pin a training step
to the transfers it needs:

* transfers: ``a.get()``, :func:`asnumpy`, ``float/int/bool/complex(a)``,
  ``a.item()``, ``a.tolist()``, ``a.tobytes()``, ``repr``/``str``/``format``
  (printing), pickling, and the syncs CuPy hides in functions whose result size
  depends on the data (boolean-mask indexing, ``nonzero``, ``unique``, ...: the
  size is copied to the host). ``len(a)`` and ``a.shape`` read metadata only.
* uploads (host->device): :func:`asarray`/:func:`array` of host data,
  ``a.set()``, host arrays used as indices or assigned through one.
* operations, a proxy for kernel launches: every ufunc call and operator, and
  every function or method that makes a new array or writes in place; views
  (reshape, transpose, slicing) cost no kernel and are not counted. A call of a
  function made by :func:`fuse` is one operation, as on the GPU, where CuPy
  compiles its chain of elementwise steps into one kernel.
* syncs: ``cupy.cuda.Device().synchronize()``.

What it is not: a GPU, CuPy's random numbers (``RandomState.random_sample``
draws from NumPy's Philox, seeded by CuPy's rules), CuPy's float rounding, or
what emsm_np does not call: streams, devices other than 0, cuRAND's other
generators (``cupy.random.Generator``, ``XORWOW``, ...), ``cupy.linalg``,
``cupy.fft``, ``cupy.lib``, raw kernels and memory pools. Those are CuPy's
names all the same, and raise ``AttributeError`` saying the double lacks them.
"""
import contextlib as _contextlib
import json as _json
import os as _os
import sys as _sys
import types as _types
import warnings as _warnings
from collections import Counter as _Counter

import numpy as _np

with open(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "cupy_names.json")) as _file:
    _CUPY = _json.load(_file)
_NAMES = {key: frozenset(value) for key, value in _CUPY.items() if isinstance(value, list)}

__version__ = _CUPY["cupy_version"] + "+double"

_DOUBLE_ONLY = ("counts", "reset_counts", "counting", "installed", "install")  # the double's own API, not CuPy's
_MISSING = object()


def _not_implemented(where, name):
    return AttributeError(f"{where}.{name} exists in CuPy {_CUPY['cupy_version']}, but the CuPy double "
                          f"({__name__}) does not implement it on NumPy")


# ---------------------------------------------------------------------------
# Counting
# ---------------------------------------------------------------------------

class _Counts:
    """What the "device" did: transfers (and the lines that asked), uploads, operations, syncs."""

    def __init__(self):
        self.transfers = 0
        self.uploads = 0
        self.operations = 0
        self.syncs = 0
        self.transfer_sites = _Counter()  # "emsm_np/losses/em_softmax.py:212" -> count
        self.transfer_kinds = _Counter()  # "get", "float", "repr", "mask index", ... -> count

    def as_dict(self):
        return {"transfers": self.transfers, "uploads": self.uploads, "operations": self.operations,
                "syncs": self.syncs, "transfer_sites": _Counter(self.transfer_sites),
                "transfer_kinds": _Counter(self.transfer_kinds)}

    def __repr__(self):
        return (f"<cupy double counts: {self.transfers} transfers, {self.uploads} uploads, "
                f"{self.operations} operations, {self.syncs} syncs>")


_totals = _Counts()
_blocks = []  # the counters of the open counting() blocks

_PACKAGE_DIR = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))  # .../emsm_np
# Frames that only pass a copy along (the double, emsm_np.backend.asnumpy): the
# site of a transfer is the line that asked for it.
_PASS_THROUGH = (_os.path.dirname(_os.path.abspath(__file__)) + _os.sep,
                 _os.path.join(_PACKAGE_DIR, "backend.py"))


def _tally(field):
    if field == "operations" and _fusing:
        return  # inside cupy.fuse: the fused call counts as one operation (see fuse)
    for c in (_totals, *_blocks):
        setattr(c, field, getattr(c, field) + 1)


def _transfer(kind):
    site = _site()
    for c in (_totals, *_blocks):
        c.transfers += 1
        c.transfer_kinds[kind] += 1
        c.transfer_sites[site] += 1


def _site():
    """``"file:line"`` of the emsm_np line that asked for a transfer (else of the first caller)."""
    first = None
    frame = _sys._getframe(1)
    while frame is not None:
        path = _os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(_PASS_THROUGH):
            first = first or (path, frame.f_lineno)
            if path.startswith(_PACKAGE_DIR + _os.sep):
                first = (path, frame.f_lineno)
                break
        frame = frame.f_back
    if first is None:
        return "?"
    path, line = first
    root = _os.path.dirname(_PACKAGE_DIR)
    return f"{_os.path.relpath(path, root) if path.startswith(root + _os.sep) else path}:{line}"


def counts():
    """Totals since import or :func:`reset_counts`: a dict with ``"transfers"``, ``"uploads"``,
    ``"operations"``, ``"syncs"`` (ints), ``"transfer_sites"`` and ``"transfer_kinds"`` (Counters)."""
    return _totals.as_dict()


def reset_counts():
    """Set the totals of :func:`counts` back to zero."""
    _totals.__init__()


@_contextlib.contextmanager
def counting():
    """Count what the block does: ``with counting() as c: ...`` then ``c.transfers``, ``c.transfer_sites``."""
    block = _Counts()
    _blocks.append(block)
    try:
        yield block
    finally:
        _blocks.remove(block)


# ---------------------------------------------------------------------------
# The host/device boundary
# ---------------------------------------------------------------------------

_PY_SCALARS = (bool, int, float, complex)  # exact types, as CuPy's CScalar checks them


def _is_scalar(x):
    return type(x) in _PY_SCALARS or isinstance(x, (_np.number, _np.bool_))


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


class _HostArrayAssignment(ValueError, TypeError):
    """CuPy raises ValueError for ``a[...] = host_array``; it is a type error all the same."""


def _operand(x):
    """A kernel operand for NumPy: the double's array unwrapped, a scalar as is, anything else refused."""
    if isinstance(x, ndarray):
        return x._a
    if _is_scalar(x):
        return x
    raise _unsupported(x)


def _unwrap(obj, seen, host_ok=False):
    """Arguments for NumPy: the double's arrays unwrapped (and noted in ``seen``), through lists,
    tuples and dicts; a NumPy array anywhere is refused unless ``host_ok`` (an upload)."""
    if isinstance(obj, ndarray):
        seen[id(obj._a)] = obj
        return obj._a
    if isinstance(obj, _np.ndarray) and not host_ok:
        raise _unsupported(obj)
    if isinstance(obj, (list, tuple)):
        items = [_unwrap(o, seen, host_ok) for o in obj]
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, dict):
        return {k: _unwrap(v, seen, host_ok) for k, v in obj.items()}
    return obj


def _wrap(obj, seen=None):
    """NumPy results as the double's: arrays wrapped (an input comes back as itself), scalars as 0-d arrays."""
    if isinstance(obj, _np.ndarray):
        known = seen.get(id(obj)) if seen else None
        return known if known is not None else ndarray._of(obj)
    if isinstance(obj, _np.generic):
        return ndarray._of(_np.asarray(obj))
    if isinstance(obj, list):
        return [_wrap(o, seen) for o in obj]
    if isinstance(obj, tuple):
        items = [_wrap(o, seen) for o in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else tuple(items)
    return obj


def _arrays_in(obj):
    if isinstance(obj, (_np.ndarray, _np.generic)):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _arrays_in(o)


def _makes_new_array(result, seen):
    """Whether ``result`` holds an array that is not a view of an input (a view costs no kernel)."""
    sources = [d._a for d in seen.values()]
    return any(isinstance(r, _np.generic) or not any(_np.may_share_memory(r, s) for s in sources)
               for r in _arrays_in(result))


def _apply(func, args, kwargs, in_place=False):
    """Call a NumPy function on the double's arrays: inputs unwrapped (host arrays refused), outputs
    wrapped, one operation counted if it made a new array or wrote in place."""
    if _fusing and getattr(func, "__name__", "") not in _FUSABLE:
        _not_while_fusing(getattr(func, "__name__", repr(func)))
    seen = {}
    result = func(*_unwrap(args, seen), **_unwrap(kwargs, seen))
    if in_place or kwargs.get("out") is not None or _makes_new_array(result, seen):
        _tally("operations")
    return _wrap(result, seen)


def _index(key):
    """``key`` for NumPy, whether CuPy copies part of it to the device (host arrays, lists), whether it
    holds a boolean mask (CuPy copies the number of True values to the host), and whether it is an
    array index (advanced) rather than slices and integers (a view)."""
    parts = key if isinstance(key, tuple) else (key,)
    out, uploads, mask, advanced = [], False, False, False
    for k in parts:
        if isinstance(k, ndarray):
            mask, advanced, k = mask or k.dtype == _np.bool_, True, k._a
        elif isinstance(k, (_np.ndarray, list, tuple)):
            host = _np.asarray(k)
            mask, advanced, uploads = mask or host.dtype == _np.bool_, True, True
        out.append(k)
    return (tuple(out) if isinstance(key, tuple) else out[0]), uploads, mask, advanced


def _fill_value(value, dtype):
    """A value for ``fill`` (and for assignment through slices): CuPy takes scalars and 0-d arrays only."""
    if isinstance(value, ndarray):
        if value.shape != ():
            raise ValueError("non-scalar cupy.ndarray cannot be used for fill")
        return value._a
    if _is_scalar(value):
        return value
    host = _np.asarray(value, dtype=dtype)
    if host.shape != ():
        raise _HostArrayAssignment("non-scalar numpy.ndarray cannot be used for fill")
    return host[()]


# ---------------------------------------------------------------------------
# ndarray
# ---------------------------------------------------------------------------

def _supported(a):
    """``a``, if CuPy has its dtype (booleans and numbers; no objects, strings or dates)."""
    if a.dtype.kind not in "biufcV":
        raise ValueError(f"Unsupported dtype {a.dtype}")
    return a


def _defers(other):
    """CuPy's ``_should_use_rop``: leave a binary operator to ``other`` if it opts out of ufuncs."""
    hook = getattr(other, "__array_ufunc__", _MISSING)
    if hook is not _MISSING:
        return hook is None
    return getattr(other, "__array_priority__", 0) > ndarray.__array_priority__


def _operators(np_ufunc):
    """``__op__``, ``__rop__`` and ``__iop__`` for a binary ufunc."""
    def forward(self, other):
        return NotImplemented if _defers(other) else _ufunc_of(np_ufunc)(self, other)

    def reflected(self, other):
        return _ufunc_of(np_ufunc)(other, self)

    def in_place(self, other):
        _ufunc_of(np_ufunc)(self, other, out=self)
        return self

    return forward, reflected, in_place


def _comparison(np_ufunc, against_object=None):
    """``__eq__`` and the like, with CuPy's special cases (0-d host arrays; ``a == None``)."""
    def compare(self, other):
        if not isinstance(other, ndarray):
            if _defers(other):
                return NotImplemented
            if isinstance(other, _np.ndarray) and other.ndim == 0:
                other = other.item()  # CuPy's workaround for numpy/numpy#12142
            elif against_object is not None and (other is None or type(other).__eq__ is object.__eq__):
                _tally("operations")  # CuPy: an object never equals an element (zeros/ones of bool)
                return ndarray._of(_np.full(self.shape, against_object))
        return _ufunc_of(np_ufunc)(self, other)
    return compare


def _unary(np_ufunc):
    return lambda self: _ufunc_of(np_ufunc)(self)


# Methods that change the array in place (an operation even though they return no array).
_IN_PLACE_METHODS = frozenset({"partition", "put", "sort"})
# Functions whose result size depends on the data: CuPy copies that size to the host.
_SIZE_SYNCS = frozenset({"argwhere", "extract", "flatnonzero", "nonzero", "unique"})


class ndarray:
    """CuPy's array: NumPy memory that reaches the host only through ``get()``/``asnumpy()``.

    ``cupy.ndarray(shape, dtype=float)`` is uninitialised, as in CuPy. Methods
    that CuPy's array has and NumPy's does the same way (``sum``, ``reshape``,
    ``astype``, ...) are NumPy's, on the wrapped array, with the boundary
    rules of the module docstring; a name CuPy's array lacks is an
    ``AttributeError``.
    """

    __slots__ = ("_a",)
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the CuPy double has no device memory: memptr and strides are not supported")
        self._a = _supported(_np.empty(shape, dtype=dtype, order=order))

    @classmethod
    def _of(cls, a):
        """Wrap a NumPy array that no host code holds (a copy, or a result computed on the double's arrays)."""
        self = object.__new__(cls)
        self._a = _supported(a)
        return self

    # -- explicit transfers -------------------------------------------------

    def _to_host(self, kind):
        _not_while_fusing(kind)
        _transfer(kind)
        return self._a

    def _download(self, kind, order="C", out=None):
        host = self._to_host(kind)
        if out is None:
            return _np.array(host, order=order, copy=True)
        if not isinstance(out, _np.ndarray):
            raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
        if out.dtype != self.dtype:
            raise TypeError(f"{out.dtype} array cannot be obtained from {self.dtype} array")
        if out.shape != self.shape:
            raise ValueError(f"Shape mismatch. Expected shape: {self.shape}, actual shape: {out.shape}")
        out[...] = host
        return out

    def get(self, stream=None, order="C", out=None, blocking=True):
        """A copy on the host (a NumPy array): the one explicit device->host transfer."""
        return self._download("get", order, out)

    def set(self, arr, stream=None):
        """Copy a host array of the same shape and dtype into this array (an upload)."""
        if not isinstance(arr, _np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if arr.dtype != self.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        _tally("uploads")
        self._a[...] = arr

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    # -- implicit transfers: legal, and each one a stall on a GPU --------------

    def __bool__(self):
        if self.size == 0:
            _warnings.warn("The truth value of an empty array is ambiguous. Returning False, but in future "
                           "this will result in an error. Use `array.size > 0` to check that an array is "
                           "not empty.", DeprecationWarning, stacklevel=2)
            return False
        if self.size > 1:
            raise ValueError("The truth value of an array with more than one element is ambiguous. "
                             "Use a.any() or a.all()")
        return bool(self._to_host("bool"))

    def __int__(self):
        return int(self._to_host("int"))

    def __float__(self):
        return float(self._to_host("float"))

    def __complex__(self):
        return complex(self._to_host("complex"))

    def __bytes__(self):
        return bytes(self._to_host("bytes"))

    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self._to_host("item").item()

    def tolist(self):
        return self._to_host("tolist").tolist()

    def tobytes(self, order="C"):
        return self._to_host("tobytes").tobytes(order)

    def tofile(self, fid, sep="", format="%s"):
        self._to_host("tofile").tofile(fid, sep, format)

    def dump(self, file):
        self._to_host("dump").dump(file)

    def dumps(self):
        return self._to_host("dumps").dumps()

    def __repr__(self):
        return repr(self._to_host("repr"))

    def __str__(self):
        return str(self._to_host("str"))

    def __format__(self, format_spec):
        return format(self._to_host("format"), format_spec)

    def __reduce__(self):
        return array, (self._to_host("pickle").copy(order="A"),)

    # -- metadata (no transfer) ------------------------------------------------

    @property
    def shape(self):
        return self._a.shape

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    @property
    def itemsize(self):
        return self._a.itemsize

    @property
    def nbytes(self):
        return self._a.nbytes

    @property
    def strides(self):
        return self._a.strides

    @property
    def flags(self):
        """``c_contiguous``, ``f_contiguous``, ``owndata`` (read only)."""
        flags = self._a.flags
        return _types.SimpleNamespace(c_contiguous=flags.c_contiguous, f_contiguous=flags.f_contiguous,
                                      owndata=self._a.base is None)

    @property
    def T(self):
        return self if self.ndim < 2 else ndarray._of(self._a.T)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self._a.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    # -- indexing ----------------------------------------------------------------

    def __getitem__(self, key):
        _not_while_fusing("indexing")
        index, uploads, mask, _ = _index(key)
        if uploads:
            _tally("uploads")
        if mask:
            _transfer("mask index")
        result = self._a[index]
        if isinstance(result, _np.generic):  # CuPy gives a 0-d view, never a scalar
            result = self._a[index + (Ellipsis,) if isinstance(index, tuple) else (index, Ellipsis)]
        if not _np.may_share_memory(result, self._a):
            _tally("operations")  # an array index gathers (a kernel); slices and integers give views
        return ndarray._of(result)

    def __setitem__(self, key, value):
        if _fusing and (key is Ellipsis or key == slice(None)):
            _ufunc_of(_np.positive)(value, out=self)  # CuPy's fusion: an elementwise copy into self
            return
        _not_while_fusing("assignment through an index other than [...] or [:]")
        index, uploads, _, advanced = _index(key)
        if advanced and not isinstance(value, ndarray) and not _is_scalar(value):
            uploads = True  # CuPy copies values assigned through an array index to the device
            value = _np.asarray(value, dtype=self.dtype)
        elif isinstance(value, ndarray):
            value = value._a
        else:
            value = _fill_value(value, self.dtype)
        if uploads:
            _tally("uploads")
        self._a[index] = value
        _tally("operations")

    def fill(self, value):
        self._a.fill(_fill_value(value, self.dtype))
        _tally("operations")

    # -- copies ------------------------------------------------------------------

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    # -- operators: CuPy's ufuncs --------------------------------------------------

    __add__, __radd__, __iadd__ = _operators(_np.add)
    __sub__, __rsub__, __isub__ = _operators(_np.subtract)
    __mul__, __rmul__, __imul__ = _operators(_np.multiply)
    __truediv__, __rtruediv__, __itruediv__ = _operators(_np.true_divide)
    __floordiv__, __rfloordiv__, __ifloordiv__ = _operators(_np.floor_divide)
    __mod__, __rmod__, __imod__ = _operators(_np.remainder)
    __pow__, __rpow__, __ipow__ = _operators(_np.power)
    __lshift__, __rlshift__, __ilshift__ = _operators(_np.left_shift)
    __rshift__, __rrshift__, __irshift__ = _operators(_np.right_shift)
    __and__, __rand__, __iand__ = _operators(_np.bitwise_and)
    __or__, __ror__, __ior__ = _operators(_np.bitwise_or)
    __xor__, __rxor__, __ixor__ = _operators(_np.bitwise_xor)
    __matmul__, __rmatmul__, _ = _operators(_np.matmul)  # CuPy has no __imatmul__
    __divmod__, __rdivmod__, _ = _operators(_np.divmod)
    del _
    __lt__ = _comparison(_np.less)
    __le__ = _comparison(_np.less_equal)
    __gt__ = _comparison(_np.greater)
    __ge__ = _comparison(_np.greater_equal)
    __eq__ = _comparison(_np.equal, against_object=False)
    __ne__ = _comparison(_np.not_equal, against_object=True)
    __hash__ = None
    __neg__ = _unary(_np.negative)
    __pos__ = _unary(_np.positive)
    __abs__ = _unary(_np.absolute)
    __invert__ = _unary(_np.invert)

    # -- NumPy's protocols: NumPy functions on these arrays run CuPy's ---------------

    def __array_ufunc__(self, np_ufunc, method, *inputs, **kwargs):
        # CuPy's rules (core.pyx): NumPy arrays pass this check and are refused by the CuPy ufunc.
        inout = inputs
        if "out" in kwargs:
            if len(kwargs["out"]) != 1:
                raise ValueError("The 'out' parameter must have exactly one array value")
            inout += kwargs["out"]
            kwargs["out"] = kwargs["out"][0]
        double = _ufunc_of(np_ufunc)
        if double is None or method not in ("__call__", "outer", "at", "reduce", "accumulate", "reduceat"):
            return NotImplemented
        if not all(_is_scalar(x) or isinstance(x, (ndarray, _np.ndarray)) for x in inout):
            return NotImplemented
        if np_ufunc.__name__ in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal"):
            inputs = tuple(x.item() if isinstance(x, _np.ndarray) and x.ndim == 0 else x for x in inputs)
        return getattr(double, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        # CuPy's rule: the function of that name in the matching cupy namespace, if there is one.
        target = _sys.modules[__name__]
        try:
            for part in func.__module__.split(".")[1:]:
                target = getattr(target, part)
            impl = getattr(target, func.__name__)
        except AttributeError:
            return NotImplemented
        if impl is func or not all(issubclass(t, (ndarray, _np.ndarray)) for t in types):
            return NotImplemented
        return impl(*args, **kwargs)

    # -- everything else CuPy's array has: NumPy's method, on the device -------------

    def __getattr__(self, name):
        if name.startswith("_") or name not in _NAMES["ndarray"]:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")
        if not callable(getattr(_np.ndarray, name, None)):
            raise _not_implemented("cupy.ndarray", name)
        np_method = getattr(_np.ndarray, name)

        def method(*args, **kwargs):
            if name in _SIZE_SYNCS:
                _transfer(name)
            return _apply(np_method, (self,) + args, kwargs, in_place=name in _IN_PLACE_METHODS)

        method.__name__ = name
        return method


# ---------------------------------------------------------------------------
# ufuncs
# ---------------------------------------------------------------------------

class ufunc:
    """A CuPy ufunc: NumPy's, on the double's arrays and scalars only (host arrays and lists refused)."""

    def __init__(self, np_ufunc):
        self._np = np_ufunc
        self.__name__ = self.name = "cupy_" + np_ufunc.__name__  # CuPy's own naming
        self.nin, self.nout, self.nargs = np_ufunc.nin, np_ufunc.nout, np_ufunc.nargs
        self.__doc__ = f"CuPy's ufunc {np_ufunc.__name__!r}, computed by numpy.{np_ufunc.__name__}."

    def __repr__(self):
        return f"<ufunc '{self.name}'>"

    def _run(self, np_call, inputs, kwargs):
        out = kwargs.get("out")
        if out is not None and not all(o is None or isinstance(o, ndarray)
                                       for o in (out if isinstance(out, tuple) else (out,))):
            raise TypeError("Output arguments must be cupy.ndarray")
        seen = {}
        result = np_call(*inputs, **_unwrap(kwargs, seen))
        _tally("operations")
        return _wrap(result, seen)

    def __call__(self, *args, **kwargs):
        if self._np.signature is not None:  # matmul: a generalised ufunc, not an elementwise step
            _not_while_fusing(self.name)
        if len(args) > self.nin:  # outputs given by position
            args, kwargs = args[:self.nin], {**kwargs, "out": tuple(args[self.nin:])}
        return self._run(self._np, [_operand(a) for a in args], kwargs)

    def reduce(self, array, axis=0, dtype=None, out=None, keepdims=False, **kwargs):
        _not_while_fusing(f"{self.name}.reduce")
        return self._run(self._np.reduce, [_operand(array), axis, dtype],
                         {"out": out, "keepdims": keepdims, **kwargs})

    def accumulate(self, array, axis=0, dtype=None, out=None):
        return self._run(self._np.accumulate, [_operand(array), axis, dtype], {"out": out})

    def reduceat(self, array, indices, axis=0, dtype=None, out=None):
        return self._run(self._np.reduceat, [_operand(array), _operand(indices), axis, dtype], {"out": out})

    def outer(self, A, B, **kwargs):
        return self._run(self._np.outer, [_operand(A), _operand(B)], kwargs)

    def at(self, a, indices, b=None):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        index, uploads, _, _ = _index(indices)
        if uploads:
            _tally("uploads")
        self._np.at(a._a, index, *(() if b is None else (_operand(b),)))
        _tally("operations")


_UFUNCS = {}  # NumPy ufunc -> the double's


def _ufunc_of(np_ufunc):
    """The double's ufunc for a NumPy ufunc, or None where CuPy has no ufunc of that name."""
    if np_ufunc.__name__ not in _NAMES["module"]:
        return None
    if np_ufunc not in _UFUNCS:
        _UFUNCS[np_ufunc] = ufunc(np_ufunc)
    return _UFUNCS[np_ufunc]


# ---------------------------------------------------------------------------
# Module functions
# ---------------------------------------------------------------------------

def _has_host_data(obj):
    if isinstance(obj, ndarray):
        return False
    if isinstance(obj, (list, tuple)) and obj:
        return any(_has_host_data(o) for o in obj)
    return True


def _to_device(obj, dtype=None, copy=None, order=None, ndmin=0):
    if isinstance(obj, ndarray):  # on the device already: a device copy at most
        return _apply(_np.array, (obj,), {"dtype": dtype, "copy": copy, "order": order or "K", "ndmin": ndmin})
    seen = {}
    result = _np.array(_unwrap(obj, seen, host_ok=True), dtype=dtype, copy=True, order=order or "K", ndmin=ndmin)
    _tally("uploads" if _has_host_data(obj) else "operations")
    return ndarray._of(result)


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """``cupy.array``: host data is copied to the device (an upload), a device array copied on it."""
    return _to_device(obj, dtype, copy, order, ndmin)


def asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    """``cupy.asarray``: host data is copied to the device (an upload); a device array is returned as is
    (or converted on the device)."""
    return _to_device(a, dtype, copy, order)


def asanyarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    return _to_device(a, dtype, copy, order)


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """A host copy of a device array (a transfer); host data is returned as a NumPy array, not copied."""
    if isinstance(a, ndarray):
        return a._download("asnumpy", order, out)
    host = _np.asarray(a, order=order)
    if out is None:
        return host
    out[...] = host
    return out


def get_array_module(*args):
    """The double (this module) if any argument is one of its arrays, else ``numpy``."""
    return _sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


def is_available():
    return True


def _function(np_func, name):
    """``cupy.<name>`` done by a NumPy function on the double's arrays."""
    def function(*args, **kwargs):
        if name in _SIZE_SYNCS or (name == "where" and len(args) + len(kwargs) == 1):
            _transfer(name)
        return _apply(np_func, args, kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"CuPy's {name}, computed by numpy.{np_func.__name__} on the double's arrays."
    return function


def _on_device(function):
    """For functions that NumPy answers with a Python bool and CuPy with a 0-d device array."""
    def wrapped(*args, **kwargs):
        _tally("operations")
        return ndarray._of(_np.asarray(function(*args, **kwargs)))

    wrapped.__name__ = wrapped.__qualname__ = function.__name__
    return wrapped


def _host_input(np_func, name):
    """Functions that read host data (files, buffers, Python callables): the result is uploaded."""
    def function(*args, **kwargs):
        result = np_func(*args, **kwargs)
        if not isinstance(result, _np.ndarray):
            return result  # e.g. load() of an .npz: a host object, read from it with asarray
        _tally("uploads")
        return ndarray._of(result.copy())

    function.__name__ = function.__qualname__ = name
    return function


def _host_output(np_func, name):
    """Functions that write or print array values on the host: a transfer."""
    def function(*args, **kwargs):
        _transfer(name)
        return _apply(np_func, args, kwargs)

    function.__name__ = function.__qualname__ = name
    return function


_HOST_INPUT = frozenset({"frombuffer", "fromfile", "fromfunction", "fromiter", "fromstring", "genfromtxt",
                         "load", "loadtxt"})
_HOST_OUTPUT = frozenset({"array2string", "array_repr", "array_str", "save", "savetxt", "savez",
                          "savez_compressed"})
_DEVICE_BOOLS = frozenset({"allclose", "array_equal", "array_equiv"})
# NumPy 1 names that CuPy 14 keeps and NumPy 2 dropped: the same thing under NumPy 2's name.
_NUMPY1_NAMES = {"alltrue": "all", "sometrue": "any", "product": "prod", "cumproduct": "cumprod",
                 "round_": "round", "trapz": "trapezoid", "float_": "float64", "complex_": "complex128",
                 "cfloat": "complex128", "singlecomplex": "complex64",
                 "AxisError": "exceptions.AxisError", "ComplexWarning": "exceptions.ComplexWarning",
                 "ModuleDeprecationWarning": "exceptions.ModuleDeprecationWarning",
                 "RankWarning": "exceptions.RankWarning", "TooHardError": "exceptions.TooHardError",
                 "VisibleDeprecationWarning": "exceptions.VisibleDeprecationWarning"}
_NUMPY1_CONSTANTS = {"Inf": _np.inf, "Infinity": _np.inf, "infty": _np.inf, "PINF": _np.inf, "NINF": -_np.inf,
                     "NaN": _np.nan, "NAN": _np.nan, "PZERO": 0.0, "NZERO": -0.0}
_HOST_CLASSES = (_np.dtype, _np.finfo, _np.iinfo, _np.ndindex)  # metadata only: no arrays involved
_INDEX_HELPERS = ("s_", "index_exp")  # build slices, not arrays


def _numpy_attr(path):
    obj = _np
    for part in path.split("."):
        obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            break
    return obj


def _implement(name):
    """The double's ``cupy.<name>`` (a CuPy name), built from NumPy's, or ``_MISSING``."""
    if name in _NUMPY1_CONSTANTS:
        return _NUMPY1_CONSTANTS[name]
    obj = _numpy_attr(name)
    if obj is _MISSING and name in _NUMPY1_NAMES:
        obj = _numpy_attr(_NUMPY1_NAMES[name])
    if obj is _MISSING or isinstance(obj, _types.ModuleType):
        return _MISSING
    if isinstance(obj, _np.ufunc):
        return _ufunc_of(obj) or _MISSING
    if isinstance(obj, type):  # scalar types, dtype, finfo, exceptions; NumPy's other classes make host arrays
        host_safe = issubclass(obj, (_np.generic, Exception, Warning)) or obj in _HOST_CLASSES
        return obj if host_safe else _MISSING
    if isinstance(obj, (bool, int, float)) or obj is None or name in _INDEX_HELPERS:
        return obj  # pi, e, inf, nan, newaxis
    if not callable(obj):
        return _MISSING
    if name in _HOST_INPUT:
        return _host_input(obj, name)
    if name in _HOST_OUTPUT:
        return _host_output(obj, name)
    if name in _DEVICE_BOOLS:
        return _on_device(_function(obj, name))
    return _function(obj, name)


# ---------------------------------------------------------------------------
# cupy.fuse: a chain of elementwise operations as one kernel
# ---------------------------------------------------------------------------

_fusing = []  # the fused functions being run (nested calls run inside the outer kernel)
# What emsm_np's fused functions may do besides ufuncs and operators: CuPy's fusion also traces
# reductions, but emsm_np keeps them out of fused functions (one reduction kernel each, outside).
_FUSABLE = frozenset({"where", "astype", "copy"})


def _not_while_fusing(what):
    if _fusing:
        raise TypeError(f"{what} inside the fused function {_fusing[-1]!r}: cupy.fuse compiles a chain of "
                        "elementwise operations (ufuncs, operators, where, astype) into one kernel, "
                        "and emsm_np fuses nothing else")


class _Fusion:
    """What ``cupy.fuse`` returns: the Python function, run as one kernel on device arrays.

    As CuPy's ``Fusion.__call__``: with no device array among the arguments, it is the plain
    Python function (NumPy arrays and scalars in, NumPy out); with one, every argument must be
    a device array or a scalar, and the call is one kernel: one operation, however many
    elementwise steps the function takes. In-place updates of arguments (``v *= m``) are
    kept, as CuPy's fusion keeps them, and so is ``a[...] = value`` (an elementwise copy in
    ``a``'s dtype). Other indexing, transfers and non-elementwise functions inside raise
    ``TypeError``.
    """

    def __init__(self, func, kernel_name=None):
        self.func, self.name = func, kernel_name or func.__name__
        self.__name__ = self.__qualname__ = getattr(func, "__name__", "fusion")
        self.__doc__ = func.__doc__

    def __repr__(self):
        return f"<Fusion '{self.name}'>"

    def __call__(self, *args):
        if not any(isinstance(a, ndarray) for a in args):
            return self.func(*args)
        for a in args:
            if not (isinstance(a, ndarray) or _is_scalar(a)):
                raise TypeError(f"Unsupported type {type(a)}")
        _fusing.append(self.name)
        try:
            result = self.func(*args)
        finally:
            _fusing.pop()
        _tally("operations")
        return result


def fuse(*args, **kwargs):
    """``cupy.fuse``: as ``@fuse``, ``@fuse()`` or ``@fuse(kernel_name=...)`` (see :class:`_Fusion`)."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return _Fusion(args[0])
    if args:
        raise TypeError("fuse() takes a function, or keyword arguments only")
    unknown = set(kwargs) - {"kernel_name"}
    if unknown:
        raise TypeError(f"fuse() got unexpected keyword arguments {sorted(unknown)}")
    return lambda func: _Fusion(func, kwargs.get("kernel_name"))


# ---------------------------------------------------------------------------
# Submodules: cupy.random, cupy.cuda
# ---------------------------------------------------------------------------

class _Submodule(_types.ModuleType):
    """A namespace of the double: its attributes, and for any other name an AttributeError that says
    whether CuPy's namespace has it (``listed``: the double does not implement it) or not."""

    def __init__(self, name, listed, doc, **attrs):
        super().__init__(name, doc)
        self.__dict__.update(attrs)
        self._listed = frozenset(listed)

    def __getattr__(self, attr):
        if attr.startswith("_") or attr not in self._listed:
            raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")
        raise _not_implemented(self.__name__, attr)


# cuRAND's generator types (curandRngType_t in curand.h), as cupy.cuda.curand names them.
_CURAND = {"CURAND_RNG_PSEUDO_DEFAULT": 100, "CURAND_RNG_PSEUDO_XORWOW": 101, "CURAND_RNG_PSEUDO_MRG32K3A": 121,
           "CURAND_RNG_PSEUDO_MTGP32": 141, "CURAND_RNG_PSEUDO_MT19937": 142,
           "CURAND_RNG_PSEUDO_PHILOX4_32_10": 161}


def _philox(seed):
    """NumPy's Philox generator for a seed, by CuPy's rules: None draws one from os.urandom; otherwise
    an integer in [0, 2**64) (a device array is refused like any implicit transfer)."""
    if seed is None:
        seed = int.from_bytes(_os.urandom(8), "little")
    else:
        host = _np.asarray(seed)
        if host.dtype.kind not in "biu":
            raise TypeError("Seed must be an integer.")
        seed = int(host)
        if not 0 <= seed < 2**64:
            raise ValueError("Seed must be an integer between 0 and 2**64 - 1")
    return _np.random.Generator(_np.random.Philox(seed))


class _RandomState:
    """cupy.random.RandomState on NumPy's Philox generator: CuPy's interface and seeding rules, not
    CuPy's numbers. What emsm_np draws (``seed``, ``random_sample``: dropout masks) and nothing
    else; every draw is a device array (0-d when ``size`` is None)."""

    def __init__(self, seed=None, method=_CURAND["CURAND_RNG_PSEUDO_DEFAULT"]):
        if method not in _CURAND.values():
            raise ValueError(f"method must be one of cuRAND's pseudo-random generators "
                             f"(cupy.cuda.curand.CURAND_RNG_PSEUDO_*), got {method!r}")
        self.method = method
        self.seed(seed)

    def seed(self, seed=None):
        self._gen = _philox(seed)

    def random_sample(self, size=None, dtype=float):
        _tally("operations")
        return ndarray._of(_np.asarray(self._gen.random(size, dtype=dtype)))

    def __getattr__(self, name):
        if name.startswith("_") or name not in _NAMES["random.RandomState"]:
            raise AttributeError(f"'RandomState' object has no attribute {name!r}")
        raise _not_implemented("cupy.random.RandomState", name)


_global_state = []  # [RandomState] once cupy.random's module functions are first used


def _random_sample(size=None, dtype=float):
    """cupy.random.random_sample: a draw of the global RandomState (seeded from CUPY_SEED, as in CuPy)."""
    if not _global_state:
        seed = _os.environ.get("CUPY_SEED")
        _global_state.append(_RandomState(None if seed is None else int(seed)))
    return _global_state[0].random_sample(size, dtype)


random = _Submodule("cupy.random", _NAMES["random"], "cupy.random on NumPy's Philox generator (see RandomState).",
                    RandomState=_RandomState, random_sample=_random_sample)


class _Device:
    """cupy.cuda.Device: the double's one device, 0; its work is finished when a call returns, so
    ``synchronize()`` only counts a sync."""

    def __init__(self, device=None):
        if device not in (None, 0):
            raise NotImplementedError("the CuPy double has one device, 0")
        self.id = 0

    def synchronize(self):
        _tally("syncs")


def _get_device_properties(device):
    """The ``name`` field of cudaDeviceProp, saying what this is."""
    _Device(device)
    return {"name": b"CuPy double (NumPy)"}


cuda = _Submodule(
    "cupy.cuda", _NAMES["cuda"], "cupy.cuda: one device (0), and cuRAND's generator types.",
    is_available=is_available, Device=_Device,
    runtime=_Submodule("cupy.cuda.runtime", _NAMES["cuda.runtime"], "cupy.cuda.runtime: the device's name.",
                       getDeviceProperties=_get_device_properties),
    curand=_Submodule("cupy.cuda.curand", _CURAND, "cuRAND's generator types.", **_CURAND))


# ---------------------------------------------------------------------------
# The module namespace, and installing the double as ``cupy``
# ---------------------------------------------------------------------------

def __getattr__(name):
    if name.startswith("_") or name not in _NAMES["module"]:
        raise AttributeError(f"module 'cupy' has no attribute {name!r}")
    value = _implement(name)
    if value is _MISSING:
        raise _not_implemented("cupy", name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({n for n in globals() if not n.startswith("_")}
                  | {n for n in _NAMES["module"] if _implement(n) is not _MISSING})


def _entries():
    return {"cupy": _sys.modules[__name__], "cupy.random": random, "cupy.cuda": cuda,
            "cupy.cuda.runtime": cuda.runtime, "cupy.cuda.curand": cuda.curand}


def install():
    """From now on, ``import cupy`` (and its submodules) gives the double, for the rest of the
    process. Called by the tests' EMSM_CUPY_DOUBLE=1 switch and by ``python -m
    emsm_np.testing.run_with_double`` (see :mod:`emsm_np.testing`); emsm_np itself never calls it."""
    _sys.modules.update(_entries())
    return _sys.modules[__name__]


@_contextlib.contextmanager
def installed():
    """Within the block, ``import cupy`` (and ``cupy.random``, ``cupy.cuda``, ...) gives the double, so
    emsm_np's ``get_array_module`` takes its arrays for CuPy arrays. The previous entries come back after."""
    entries = _entries()
    saved = {key: _sys.modules.get(key, _MISSING) for key in entries}
    _sys.modules.update(entries)
    try:
        yield _sys.modules[__name__]
    finally:
        for key, value in saved.items():
            if value is _MISSING:
                _sys.modules.pop(key, None)
            else:
                _sys.modules[key] = value
