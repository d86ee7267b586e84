"""Test helpers that ship with emsm_np. The rest of emsm_np never imports them.

:mod:`emsm_np.testing.cupy_double` is a ``cupy`` backed by NumPy that enforces
CuPy's rules (no implicit host copies, no host arrays in device computations,
only the names CuPy has) and counts device->host transfers, so that the GPU
code path runs, and fails where CuPy would, on a machine without a GPU.

It takes the place of ``cupy`` only when asked, in one of three ways:

* from Python: ``cupy_double.install()`` (for the rest of the process) or
  ``with cupy_double.installed(): ...`` (for a block);
* the tests: ``EMSM_CUPY_DOUBLE=1 python -m pytest -q -m gpu``. ``tests/conftest.py``
  calls :func:`install_double_if_asked` as it loads, in the main process and in
  each pytest-xdist worker;
* a command or a script: ``python -m emsm_np.testing.run_with_double emsm train
  --device gpu ...`` or ``python -m emsm_np.testing.run_with_double
  benchmarks/gpu_check.py --smoke`` (:mod:`emsm_np.testing.run_with_double`).

:data:`SWITCH` (``EMSM_CUPY_DOUBLE``) is read here only, by the tests' switch;
installing the double sets it, so that a pytest run started from a process
that has the double has it too.
"""
import os
import sys

SWITCH = "EMSM_CUPY_DOUBLE"
_ON = ("1", "true", "yes")


def double_asked(environ=None):
    """Whether ``EMSM_CUPY_DOUBLE`` asks for the double (``1``, ``true`` or ``yes``)."""
    return (os.environ if environ is None else environ).get(SWITCH, "").lower() in _ON


def install_double(announce=False):
    """Make ``import cupy`` give the double for the rest of this process, and set ``EMSM_CUPY_DOUBLE=1``
    for the processes it starts. Returns the double. ``announce``: say so once, on stderr."""
    from . import cupy_double

    if announce and sys.modules.get("cupy") is not cupy_double:
        print(f"emsm_np.testing: 'cupy' is {cupy_double.__name__} (NumPy under CuPy's rules), not a GPU",
              file=sys.stderr)
    os.environ[SWITCH] = "1"
    return cupy_double.install()


def install_double_if_asked(environ=None):
    """:func:`install_double` if ``EMSM_CUPY_DOUBLE`` asks for it; returns the double, or None."""
    return install_double() if double_asked(environ) else None
