"""Worker threads (parallel.py): how work is split, that the BLAS is held to one
thread meanwhile, and that every threaded operation gives the one-thread result."""
import threading

import numpy as np
import pytest

from emsm_np import parallel
from emsm_np.functional.batch_norm import batch_norm_backward, batch_norm_forward
from emsm_np.functional.conv2d import conv2d_backward, conv2d_forward
from emsm_np.functional.linear import linear_backward, linear_forward
from emsm_np.functional.max_pool2d import max_pool2d_backward, max_pool2d_forward
from emsm_np.functional.prelu import prelu_backward, prelu_forward
from emsm_np.functional.relu import relu_backward, relu_forward


@pytest.fixture
def two_threads(monkeypatch):
    before = parallel.num_threads()
    parallel.set_num_threads(2)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SIZE", 0)
    yield
    parallel.set_num_threads(before)


def test_map_groups_gives_contiguous_groups_to_different_threads_in_order(two_threads):
    def fn(group):
        return group, threading.current_thread().name

    results = parallel.map_groups(np, fn, range(7))
    assert [group for group, _ in results] == [[0, 1, 2], [3, 4, 5, 6]]
    names = [name for _, name in results]
    assert all(name.startswith("emsm_np") for name in names)
    assert threading.current_thread().name not in names


def test_map_groups_runs_once_for_non_numpy_one_piece_or_inside_a_worker(two_threads):
    assert parallel.map_groups(object(), list, [1, 2, 3]) == [[1, 2, 3]]  # e.g. CuPy
    assert parallel.map_groups(np, list, [1]) == [[1]]
    nested = parallel.map_groups(np, lambda group: parallel.map_groups(np, list, group * 2), [1, 2])
    assert nested == [[[1, 1]], [[2, 2]]]  # the inner call did not split again


def test_map_groups_holds_blas_to_one_thread_and_restores_it(two_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    inside = parallel.map_groups(np, lambda group: blas_threads(), [0, 1])
    assert all(counts == [1] * len(before) for counts in inside)
    assert blas_threads() == before


def test_map_groups_passes_a_worker_exception_on(two_threads):
    def fn(group):
        if 1 in group:
            raise KeyError("from a worker")
        return group

    with pytest.raises(KeyError, match="from a worker"):
        parallel.map_groups(np, fn, [0, 1])


def test_for_slices_covers_the_axis_and_keeps_small_work_whole(two_threads, monkeypatch):
    assert parallel.for_slices(np, 5, 10, lambda s: s) == [slice(0, 2), slice(2, 5)]
    assert parallel.for_slices(np, 1, 10, lambda s: s) == [slice(0, 1)]
    assert parallel.for_slices(np, None, 1, lambda s: s) == [Ellipsis]
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SIZE", 100)
    assert parallel.for_slices(np, 5, 99, lambda s: s) == [slice(0, 5)]


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2", None])
def test_set_num_threads_rejects_non_positive_integers(bad):
    with pytest.raises(ValueError, match=r"num_threads must be a positive integer, got"):
        parallel.set_num_threads(bad)


def test_environment_variable_sets_and_checks_the_default(monkeypatch):
    monkeypatch.setenv("EMSM_NUM_THREADS", "3")
    assert parallel._default_threads() == 3
    monkeypatch.setenv("EMSM_NUM_THREADS", "many")
    with pytest.raises(ValueError, match=r"EMSM_NUM_THREADS must be a positive integer, got 'many'"):
        parallel._default_threads()


def _run_both(fn):
    """fn() with one thread, then with two threads on every operation."""
    before = parallel.num_threads()
    try:
        parallel.set_num_threads(1)
        one = fn()
        parallel.set_num_threads(2)
        saved, parallel.MIN_PARALLEL_SIZE = parallel.MIN_PARALLEL_SIZE, 0
        try:
            two = fn()
        finally:
            parallel.MIN_PARALLEL_SIZE = saved
    finally:
        parallel.set_num_threads(before)
    return one, two


def _conv(x, w, b, padding):
    out, cache = conv2d_forward(x, w, b, 1, padding)
    dx, dw, db = conv2d_backward(np.ones_like(out) * np.linspace(-1, 1, out.size).reshape(out.shape), cache)
    return out, dx, dw, db


@pytest.mark.parametrize("C, F, k", [(1, 8, 5), (8, 16, 3), (32, 8, 3)])  # per-image, rows, and rows for dx only
def test_threaded_convolution_equals_one_thread(C, F, k):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, C, 9, 8), dtype=np.float32)
    w = rng.standard_normal((F, C, k, k), dtype=np.float32)
    b = rng.standard_normal(F, dtype=np.float32)
    one, two = _run_both(lambda: _conv(x, w, b, k // 2))
    # Equal up to float32 rounding: the batch chunks (so the GEMM shapes) and the
    # split of dW's sum differ with the thread count.
    for a, b in zip(one, two):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * np.abs(a).max())


def test_threaded_elementwise_operations_equal_one_thread():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 7, 9))  # odd sizes: a ceil-mode pool, uneven splits
    g = rng.standard_normal(x.shape)

    def run():
        out, cache = relu_forward(x)
        results = [out, relu_backward(g, cache)]
        for slopes in ([0.1, 0.5, 1.0], [-0.3, 1.5, 0.2]):
            out, cache = prelu_forward(x, np.array(slopes))
            dx, _ = prelu_backward(g, cache)
            results += [out, dx]
        out, cache = max_pool2d_forward(x, 2, 2, 0, ceil_mode=True)
        results += [out, max_pool2d_backward(g[:, :, :4, :5], cache)]
        for train in (True, False):
            out, cache, running = batch_norm_forward(x, np.arange(1.0, 4.0), np.ones(3), np.zeros(3), np.ones(3), train)
            dx, dgamma, dbeta = batch_norm_backward(g, cache)
            results += [out, dx, dgamma, dbeta, *running]
        return results

    one, two = _run_both(run)
    for a, b in zip(one[:8], two[:8]):  # ReLU, PReLU, max-pool: elementwise, the same bits
        np.testing.assert_array_equal(b, a)
    for a, b in zip(one[8:], two[8:]):  # batch norm: per-channel sums over a channel slice's view
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-15)


def test_threaded_linear_and_slope_gradients_equal_one_thread():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((7, 6)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    g = rng.standard_normal((7, 4))
    xp4, gp4 = rng.standard_normal((5, 3, 4, 4)), rng.standard_normal((5, 3, 4, 4))

    def run():
        out, cache = linear_forward(x, w, b)
        dx, dw, db = linear_backward(g, cache)
        _, dslope = prelu_backward(gp4, prelu_forward(xp4, np.array([0.2, 0.3, 0.4]))[1])
        return out, dx, dw, db, dslope

    one, two = _run_both(run)
    for a, b in zip(one, two):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_sum_in_order_adds_left_to_right():
    # float32 spacing at 1e8 is 8: (1e8 + 3) + 3 rounds each 3 away, 1e8 + (3 + 3) gives 1e8 + 8
    parts = [np.array([1e8], np.float32), np.array([3.0], np.float32), np.array([3.0], np.float32)]
    assert np.float32(1e8) + (np.float32(3) + np.float32(3)) == np.float32(1e8 + 8)
    assert parallel.sum_in_order(parts)[0] == np.float32(1e8)
    assert parallel.sum_in_order([np.array([1.0]), np.array([2.0])])[0] == 3.0
