"""Shared fixtures: the array module to test on (NumPy always, CuPy where a GPU is usable)."""
import numpy as np
import pytest

from emsm_np.backend import gpu_available

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
def routes(request, monkeypatch):
    """Run a test with the fast CPU routes off (every layer on its reference route in
    emsm_np.functional) and on (emsm_np.cpu, for NumPy arrays): the checks hold on both."""
    from emsm_np import ops

    monkeypatch.setitem(ops._state, "fast", request.param == "fast")
    return request.param
