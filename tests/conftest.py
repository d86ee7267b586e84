"""Shared fixtures: the array module to test on (NumPy always, CuPy where a GPU is usable)."""
import contextlib
import json
import os

import numpy as np
import pytest

from emsm_np.backend import gpu_available
from emsm_np.testing import install_double_if_asked

# The plugin hook of the CuPy double: under EMSM_CUPY_DOUBLE=1 (how CI runs the GPU tier,
# `EMSM_CUPY_DOUBLE=1 python -m pytest -q -m gpu`), `import cupy` gives emsm_np.testing.cupy_double
# in this process and in each pytest-xdist worker (each loads this file). Installed as this file
# loads, not in pytest_configure (which comes after): gpu_available() just below, which decides
# whether the cupy cases of the xp fixture run, must already see it. emsm_np itself never does this.
_DOUBLE = install_double_if_asked()
_GPU = gpu_available()
_NO_GPU_REASON = "no usable CUDA GPU (CuPy missing or cupy.cuda.is_available() is False)"


@pytest.fixture(
    params=[
        "numpy",
        pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(not _GPU, reason=_NO_GPU_REASON)]),
    ]
)
def xp(request):
    """``numpy`` or ``cupy``: run the same check on the CPU and on the GPU."""
    if request.param == "numpy":
        return np
    import cupy

    return cupy


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=["one-thread", "two-threads"])
def threads(request, monkeypatch):
    """Run a test with no worker threads, and again with two threads on every
    operation however small (emsm_np.cpu.threads), so that the split of the batch
    or the channels between threads meets the same checks as the whole."""
    from emsm_np.cpu import threads as parallel

    before = parallel.num_threads()
    n = 1 if request.param == "one-thread" else 2
    parallel.set_num_threads(n)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SIZE", 0)
    yield n
    parallel.set_num_threads(before)


@pytest.fixture(params=["reference", "fast"])
def routes(request):
    """Run a test with the fast CPU routes off (every layer on its reference route in
    emsm_np.functional) and on (emsm_np.cpu, for NumPy arrays): the checks hold on both."""
    from emsm_np import ops

    before = ops.fast_routes_enabled()
    ops.set_fast_routes(request.param == "fast")
    yield request.param
    ops.set_fast_routes(before)


@contextlib.contextmanager
def no_device_to_host_transfer(xp):
    """Fail if the block copies anything from the GPU to the host (a stall in a training step).

    On the CuPy double (EMSM_CUPY_DOUBLE=1) by its transfer count; on real CuPy by
    ``cupyx.allow_synchronize(False)`` where this CuPy still has it."""
    module = getattr(xp, "__name__", "")
    if module == "emsm_np.testing.cupy_double":
        with xp.counting() as counter:
            yield
        assert counter.transfers == 0, f"device-to-host transfers at {dict(counter.transfer_sites)}"
        return
    import warnings

    import cupyx

    if not hasattr(cupyx, "allow_synchronize"):
        pytest.skip("this CuPy has no cupyx.allow_synchronize to detect a sync with")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "allow_synchronize will be removed"
        with cupyx.allow_synchronize(False):
            yield


@pytest.fixture
def gpu_xp():
    """``cupy`` (real, or the double under EMSM_CUPY_DOUBLE=1), for GPU-only tests; skipped without one."""
    if not _GPU:
        pytest.skip(_NO_GPU_REASON)
    import cupy

    return cupy


def pytest_report_header(config):
    if _DOUBLE is not None:
        return f"cupy: {_DOUBLE.__name__} (EMSM_CUPY_DOUBLE=1): NumPy under CuPy's rules, not a GPU"
    return None


def pytest_collection_modifyitems(config, items):
    """Leave out the combinations that cannot run: CuPy arrays on a NumPy-only CPU route."""
    keep, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("xp") == "cupy" and params.get("route") in ("im2col", "per-image", "rows"):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    _fastest_first_under_mutmut(items)


def _fastest_first_under_mutmut(items):
    """Under mutmut (pyproject's [tool.mutmut]), run a mutant's tests fastest first.

    mutmut runs each mutant's tests with ``-x`` in the order it lists them; ordering them by the
    durations its clean run recorded (mutmut-stats.json in its working folder) lets a killed mutant
    stop at its cheapest failing test. Outside mutmut this does nothing.
    """
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    try:
        with open("mutmut-stats.json") as f:
            durations = json.load(f)["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))
