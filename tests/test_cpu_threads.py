"""Worker threads (emsm_np.cpu.threads): how work is split, that the BLAS is held to one
thread meanwhile, and that every CPU route gives bit for bit the same result with 1, 2 or
3 threads (the split into pieces does not depend on the thread count)."""
import threading

import numpy as np
import pytest

from emsm_np.cpu import threads as parallel
from emsm_np.cpu.batch_norm import batch_norm_backward, batch_norm_forward
from emsm_np.cpu.conv2d import conv2d_backward, conv2d_forward
from emsm_np.cpu.linear import linear_backward, linear_forward
from emsm_np.cpu.max_pool2d import max_pool2d_backward, max_pool2d_forward
from emsm_np.cpu.prelu import prelu_backward, prelu_forward
from emsm_np.cpu.relu import relu_backward, relu_forward


@pytest.fixture
def two_threads(monkeypatch):
    before = parallel.num_threads()
    parallel.set_num_threads(2)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SIZE", 0)
    yield
    parallel.set_num_threads(before)


def test_map_pieces_gives_contiguous_groups_to_different_threads_and_results_in_piece_order(two_threads):
    def fn(group):
        return [(piece, len(group), threading.current_thread().name) for piece in group]

    results = parallel.map_pieces(np, fn, range(7))
    assert [piece for piece, _, _ in results] == list(range(7))
    assert [size for _, size, _ in results] == [3, 3, 3, 4, 4, 4, 4]
    names = [name for _, _, name in results]
    assert all(name.startswith("emsm_np") for name in names)
    assert threading.current_thread().name not in names


def test_map_pieces_runs_once_for_non_numpy_one_piece_or_inside_a_worker(two_threads):
    assert parallel.map_pieces(object(), lambda g: [list(g)], [1, 2, 3]) == [[1, 2, 3]]  # e.g. CuPy
    assert parallel.map_pieces(np, lambda g: [list(g)], [1]) == [[1]]
    nested = parallel.map_pieces(np, lambda group: [parallel.map_pieces(np, lambda g: [list(g)], group * 2)], [1, 2])
    assert nested == [[[1, 1]], [[2, 2]]]  # the inner call did not split again


def test_map_pieces_holds_blas_to_one_thread_and_restores_it(two_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    inside = parallel.map_pieces(np, lambda group: [blas_threads()], [0, 1])
    assert all(counts == [1] * len(before) for counts in inside)
    assert blas_threads() == before
    parallel.set_num_threads(1)  # one thread: the pieces still run on a one-thread BLAS
    assert parallel.map_pieces(np, lambda group: [blas_threads()], [0, 1]) == [[1] * len(before)]
    assert blas_threads() == before


def test_map_pieces_passes_a_worker_exception_on(two_threads):
    def fn(group):
        if 1 in group:
            raise KeyError("from a worker")
        return group

    with pytest.raises(KeyError, match="from a worker"):
        parallel.map_pieces(np, fn, [0, 1])


def test_for_slices_cuts_the_same_pieces_whatever_the_thread_count(two_threads, monkeypatch):
    pieces = [slice(k * 20 // 16, (k + 1) * 20 // 16) for k in range(16)]
    assert parallel.for_slices(np, 20, 10, lambda s: s) == pieces
    parallel.set_num_threads(3)
    assert parallel.for_slices(np, 20, 10, lambda s: s) == pieces
    assert parallel.for_slices(np, 5, 10, lambda s: s, pieces=2) == [slice(0, 2), slice(2, 5)]
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


def _run_each(fn, counts=(1, 2, 3)):
    """fn() with each thread count, every operation split (MIN_PARALLEL_SIZE 0)."""
    before, saved = parallel.num_threads(), parallel.MIN_PARALLEL_SIZE
    results = []
    try:
        parallel.MIN_PARALLEL_SIZE = 0
        for n in counts:
            parallel.set_num_threads(n)
            results.append(fn())
    finally:
        parallel.MIN_PARALLEL_SIZE = saved
        parallel.set_num_threads(before)
    return results


def _assert_bit_identical(results):
    first = results[0]
    for other in results[1:]:
        assert len(other) == len(first)
        for a, b in zip(first, other):
            np.testing.assert_array_equal(b, a)


def _conv(x, w, b, padding):
    out, cache = conv2d_forward(x, w, b, 1, padding)
    dx, dw, db = conv2d_backward(np.ones_like(out) * np.linspace(-1, 1, out.size).reshape(out.shape), cache)
    return out, dx, dw, db


@pytest.mark.parametrize("C, F, k", [(1, 8, 5), (8, 16, 3), (32, 8, 3), (64, 64, 3)])  # per-image, im2col, rows
def test_convolution_is_bit_identical_with_1_2_or_3_threads(C, F, k):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((11, C, 9, 8), dtype=np.float32)
    w = rng.standard_normal((F, C, k, k), dtype=np.float32)
    b = rng.standard_normal(F, dtype=np.float32)
    _assert_bit_identical(_run_each(lambda: _conv(x, w, b, k // 2)))


def test_elementwise_operations_are_bit_identical_with_1_2_or_3_threads():
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

    _assert_bit_identical(_run_each(run))


def test_linear_and_slope_gradients_are_bit_identical_with_1_2_or_3_threads():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((7, 6)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    g = rng.standard_normal((7, 4))
    xp4, gp4 = rng.standard_normal((5, 3, 4, 4)), rng.standard_normal((5, 3, 4, 4))

    def run():
        out, cache = linear_forward(x, w, b)
        dx, dw, db = linear_backward(g, cache)
        _, dslope = prelu_backward(gp4, prelu_forward(xp4, np.array([0.2, 0.3, 0.4]))[1])
        return out, dx, dw, db, dslope

    _assert_bit_identical(_run_each(run))


def test_sum_in_order_adds_left_to_right():
    # float32 spacing at 1e8 is 8: (1e8 + 3) + 3 rounds each 3 away, 1e8 + (3 + 3) gives 1e8 + 8
    parts = [np.array([1e8], np.float32), np.array([3.0], np.float32), np.array([3.0], np.float32)]
    assert np.float32(1e8) + (np.float32(3) + np.float32(3)) == np.float32(1e8 + 8)
    assert parallel.sum_in_order(parts)[0] == np.float32(1e8)
    assert parallel.sum_in_order([np.array([1.0]), np.array([2.0])])[0] == 3.0
