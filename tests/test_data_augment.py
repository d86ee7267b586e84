"""Pad-crop-flip augmentation: against a loop reference, and its defining properties."""
import numpy as np
import pytest

from emsm_np.data import crop_and_flip, random_crop_flip


def crop_and_flip_loop(x, top, left, flip, pad):
    """Obviously-correct reference: one image at a time."""
    n, c, h, w = x.shape
    out = np.empty_like(x)
    for i in range(n):
        padded = np.zeros((c, h + 2 * pad, w + 2 * pad), x.dtype)
        padded[:, pad:pad + h, pad:pad + w] = x[i]
        window = padded[:, top[i]:top[i] + h, left[i]:left[i] + w]
        out[i] = window[:, :, ::-1] if flip[i] else window
    return out


def test_vectorised_crop_and_flip_matches_the_loop_reference(rng):
    x = rng.standard_normal((7, 3, 6, 5)).astype(np.float32)
    top, left = rng.integers(0, 5, 7), rng.integers(0, 5, 7)
    flip = rng.random(7) < 0.5
    out = crop_and_flip(x, top, left, flip, pad=2)
    np.testing.assert_array_equal(out, crop_and_flip_loop(x, top, left, flip, 2))


def test_centre_window_without_flip_is_the_identity_and_flip_mirrors(rng):
    x = rng.standard_normal((4, 3, 32, 32))
    centre = np.full(4, 4)
    np.testing.assert_array_equal(crop_and_flip(x, centre, centre, np.zeros(4, bool)), x)
    np.testing.assert_array_equal(crop_and_flip(x, centre, centre, np.ones(4, bool)), x[..., ::-1])


def test_corner_window_shifts_the_image_and_fills_zeros(rng):
    x = rng.random((1, 1, 8, 8)) + 1.0  # strictly positive, so padding shows as 0
    out = crop_and_flip(x, np.array([0]), np.array([8]), np.array([False]), pad=4)
    # Window at (0, 8) of the padded image: rows -4..3, columns 4..11 of x.
    assert (out[0, 0, :4] == 0).all() and (out[0, 0, :, 4:] == 0).all()
    np.testing.assert_array_equal(out[0, 0, 4:, :4], x[0, 0, :4, 4:])


def test_random_crop_flip_keeps_shape_dtype_and_leaves_input_alone(rng):
    x = rng.standard_normal((16, 3, 32, 32)).astype(np.float32)
    before = x.copy()
    out = random_crop_flip(x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(x, before)


def test_every_random_output_is_a_window_of_the_padded_image_or_its_mirror(rng):
    x = rng.random((12, 3, 32, 32)) + 1.0
    out = random_crop_flip(x, np.random.default_rng(2), pad=4)
    padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
    windows_used, flips_used = set(), set()
    for i in range(12):
        found = [(t, l, f) for t in range(9) for l in range(9) for f in (False, True)
                 if np.array_equal(out[i], (lambda w: w[..., ::-1] if f else w)(padded[i, :, t:t + 32, l:l + 32]))]
        assert found, f"image {i} is not a shifted (or mirrored) window of its padded image"
        windows_used.add(found[0][:2])
        flips_used.add(found[0][2])
    assert len(windows_used) > 1 and flips_used == {False, True}


def test_same_generator_seed_gives_the_same_augmentation(rng):
    x = rng.standard_normal((8, 3, 32, 32))
    a = random_crop_flip(x, np.random.default_rng(3))
    b = random_crop_flip(x, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_bad_arguments_are_named():
    x = np.zeros((2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"top and left must lie in \[0, 8\] for pad=4"):
        crop_and_flip(x, np.array([0, 9]), np.array([0, 0]), np.array([False, False]))
    with pytest.raises(ValueError, match=r"flip must have shape \(2,\), got \(3,\)"):
        crop_and_flip(x, np.zeros(2, int), np.zeros(2, int), np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, C, H, W\), got shape \(8, 8\)"):
        crop_and_flip(x[0, 0], np.zeros(2, int), np.zeros(2, int), np.zeros(2, bool))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, got int"):
        random_crop_flip(x, 0)


def test_crop_and_flip_on_the_gpu_matches_numpy(xp, rng):
    x = rng.standard_normal((5, 3, 8, 8))
    top, left, flip = rng.integers(0, 9, 5), rng.integers(0, 9, 5), rng.random(5) < 0.5
    out = crop_and_flip(xp.asarray(x), top, left, flip)
    assert type(out) is type(xp.asarray(x))
    from emsm_np.backend import asnumpy

    np.testing.assert_array_equal(asnumpy(out), crop_and_flip(x, top, left, flip))


def test_random_crop_flip_in_two_halves_draws_and_crops_exactly_as_it_does(rng):
    """The halves the training batches use (draw the epoch's choices ahead, crop each batch by them)."""
    x = rng.standard_normal((9, 3, 8, 8)).astype(np.float32)
    drawn = random_crop_flip.draw(np.random.default_rng(4), 9)
    assert drawn.shape == (3, 9) and drawn.dtype == np.int64
    assert drawn[:2].min() >= 0 and drawn[:2].max() <= 8 and set(drawn[2]) <= {0, 1}
    np.testing.assert_array_equal(random_crop_flip.apply(x, drawn), random_crop_flip(x, np.random.default_rng(4)))


@pytest.mark.gpu
def test_cropping_on_the_gpu_checks_host_corners_on_the_host_and_drawn_ones_not_at_all(gpu_xp, rng):
    """crop_and_flip checks host corners before their upload (no transfer) and still refuses bad ones;
    random_crop_flip.apply, by corners already on the device, copies nothing either way."""
    if gpu_xp.__name__ != "emsm_np.testing.cupy_double":
        pytest.skip("counts transfers and uploads: the CuPy double (EMSM_CUPY_DOUBLE=1) counts them")
    x = rng.standard_normal((5, 3, 8, 8))
    gx = gpu_xp.asarray(x)
    top, left, flip = rng.integers(0, 9, 5), rng.integers(0, 9, 5), rng.random(5) < 0.5
    with gpu_xp.counting() as counter:
        out = crop_and_flip(gx, top, left, flip)
    assert (counter.transfers, counter.uploads) == (0, 3)
    np.testing.assert_array_equal(out.get(), crop_and_flip(x, top, left, flip))
    bad = np.where(np.arange(5) == 2, 9, left)
    with pytest.raises(ValueError, match=r"top and left must lie in \[0, 8\] for pad=4"):
        crop_and_flip(gx, top, bad, flip)
    with pytest.raises(ValueError, match=r"top and left must lie in \[0, 8\] for pad=4"):
        crop_and_flip(gx, gpu_xp.asarray(top), gpu_xp.asarray(bad), gpu_xp.asarray(flip))  # read back

    drawn = random_crop_flip.draw(np.random.default_rng(5), 5)
    device_drawn = gpu_xp.asarray(drawn)
    with gpu_xp.counting() as counter:
        out = random_crop_flip.apply(gx, device_drawn)
    assert (counter.transfers, counter.uploads) == (0, 0)
    np.testing.assert_array_equal(out.get(), random_crop_flip.apply(x, drawn))
