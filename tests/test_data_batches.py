"""Seeded batching: determinism, coverage, resuming an epoch, and the device."""
import numpy as np
import pytest

from emsm_np.backend import GPUUnavailableError, gpu_available
from emsm_np.data import batch_rng, batches, epoch_order, num_batches, random_crop_flip

_GPU = gpu_available()


def data(n=23):
    x = np.arange(n * 3 * 4 * 4, dtype=np.float32).reshape(n, 3, 4, 4)
    y = np.arange(n, dtype=np.int64)
    return x, y


def collect(*args, **kwargs):
    return [(xb.copy(), yb.copy()) for xb, yb in batches(*args, **kwargs)]


def test_one_epoch_visits_every_example_once_in_the_epoch_order():
    x, y = data()
    got = collect(x, y, 5, seed=3, epoch=2)
    assert [len(yb) for _, yb in got] == [5, 5, 5, 5, 3]
    order = np.concatenate([yb for _, yb in got])
    np.testing.assert_array_equal(order, epoch_order(23, 3, 2))
    assert sorted(order) == list(range(23))
    for xb, yb in got:
        np.testing.assert_array_equal(xb, x[yb])  # inputs stay paired with their labels


def test_same_seed_and_epoch_give_the_same_batches_other_epochs_and_seeds_differ():
    x, y = data()
    a, b = collect(x, y, 4, seed=1, epoch=0), collect(x, y, 4, seed=1, epoch=0)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(epoch_order(23, 1, 0), epoch_order(23, 1, 1))
    assert not np.array_equal(epoch_order(23, 1, 0), epoch_order(23, 2, 0))


def test_no_shuffle_keeps_order_and_drop_last_drops_the_partial_batch():
    x, y = data()
    got = collect(x, y, 5, shuffle=False, drop_last=True)
    assert len(got) == num_batches(23, 5, drop_last=True) == 4
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in got]), np.arange(20))
    assert num_batches(23, 5) == 5 and num_batches(0, 5) == 0


def test_resumed_epoch_gives_exactly_the_remaining_batches_including_augmentation():
    x, y = data(40)
    full = collect(x, y, 6, seed=11, epoch=4, augment=lambda xb, rng: random_crop_flip(xb, rng, pad=1))
    resumed = collect(x, y, 6, seed=11, epoch=4, start_batch=3,
                      augment=lambda xb, rng: random_crop_flip(xb, rng, pad=1))
    assert len(resumed) == len(full) - 3
    for (xf, yf), (xr, yr) in zip(full[3:], resumed):
        np.testing.assert_array_equal(yf, yr)
        np.testing.assert_array_equal(xf, xr)
    assert collect(x, y, 6, seed=11, epoch=4, start_batch=len(full)) == []


def test_augmentation_draws_from_the_batch_generator_and_leaves_x_alone():
    x, y = data()
    before = x.copy()
    seen = []

    def augment(xb, rng):
        seen.append(rng.random())
        return xb + 1

    got = collect(x, y, 10, seed=7, epoch=1, augment=augment)
    assert seen == [batch_rng(7, 1, b).random() for b in range(3)]
    np.testing.assert_array_equal(got[0][0], x[got[0][1]] + 1)
    np.testing.assert_array_equal(x, before)


def test_arguments_are_checked_before_the_first_batch():
    x, y = data()
    with pytest.raises(ValueError, match=r"y must have shape \(23,\) to match x, got \(22,\)"):
        batches(x, y[:-1], 4)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        batches(x, y, 0)
    with pytest.raises(ValueError, match=r"start_batch must be <= 6 \(the number of batches\), got 7"):
        batches(x, y, 4, start_batch=7)
    with pytest.raises(ValueError, match="device must be one of 'cpu', 'gpu'; got 'tpu'"):
        batches(x, y, 4, device="tpu")
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        batches(x, y, 4, seed=-1)
    with pytest.raises(TypeError, match="augment must be callable or None, got str"):
        batches(x, y, 4, augment="flip")


@pytest.mark.skipif(_GPU, reason="a GPU is usable here; this checks the error where there is none")
def test_gpu_request_without_a_gpu_is_an_error_not_a_fallback():
    x, y = data()
    with pytest.raises(GPUUnavailableError, match="a GPU was requested"):
        batches(x, y, 4, device="gpu")


@pytest.mark.gpu
@pytest.mark.skipif(not _GPU, reason="no usable CUDA GPU (CuPy missing or cupy.cuda.is_available() is False)")
def test_gpu_batches_are_cupy_arrays_equal_to_the_cpu_ones():
    import cupy

    x, y = data()
    cpu = collect(x, y, 5, seed=2, augment=lambda xb, rng: xb * 2)
    gpu = list(batches(x, y, 5, seed=2, augment=lambda xb, rng: xb * 2, device="gpu"))
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        assert isinstance(xg, cupy.ndarray) and isinstance(yg, cupy.ndarray)
        np.testing.assert_array_equal(cupy.asnumpy(xg), xc)
        np.testing.assert_array_equal(cupy.asnumpy(yg), yc)


def test_an_augmentation_drawn_ahead_gives_the_batches_it_gives_batch_by_batch():
    """random_crop_flip has halves (draw, apply): batches() draws the epoch's crops and flips at its
    start. The batches are those of the same function called batch by batch, in a resumed epoch and
    in its last, partial batch too."""
    x, y = data(23)
    by_batch = lambda xb, rng: random_crop_flip(xb, rng)  # no halves: called batch by batch
    for start in (0, 2):
        ahead = collect(x, y, 5, seed=4, epoch=3, start_batch=start, augment=random_crop_flip)
        one_by_one = collect(x, y, 5, seed=4, epoch=3, start_batch=start, augment=by_batch)
        assert [len(yb) for _, yb in ahead] == [5, 5, 5, 5, 3][start:]
        for (xa, ya), (xb, yb) in zip(ahead, one_by_one, strict=True):
            np.testing.assert_array_equal(ya, yb)
            np.testing.assert_array_equal(xa, xb)


@pytest.mark.gpu
def test_batches_of_device_data_are_gathered_and_augmented_on_the_device(gpu_xp):
    """Data on the GPU (as the training loop puts it there): an epoch costs one upload of its order and
    one of its draws, a batch nothing; the batches are the CPU's."""
    if gpu_xp.__name__ != "emsm_np.testing.cupy_double":
        pytest.skip("counts transfers and uploads: the CuPy double (EMSM_CUPY_DOUBLE=1) counts them")
    x, y = data(23)
    gx, gy = gpu_xp.asarray(x), gpu_xp.asarray(y)
    cpu = collect(x, y, 5, seed=4, epoch=1, augment=random_crop_flip)
    with gpu_xp.counting() as counter:
        stream = batches(gx, gy, 5, seed=4, epoch=1, augment=random_crop_flip, device="gpu")
        gpu = [next(stream)]
        first = (counter.transfers, counter.uploads)
        gpu += list(stream)
    assert first == (0, 2) and (counter.transfers, counter.uploads) == (0, 2)
    for (xc, yc), (xg, yg) in zip(cpu, gpu, strict=True):
        assert isinstance(xg, gpu_xp.ndarray) and isinstance(yg, gpu_xp.ndarray)
        np.testing.assert_array_equal(xg.get(), xc)
        np.testing.assert_array_equal(yg.get(), yc)
