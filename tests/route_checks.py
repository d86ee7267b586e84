"""What the tests of the fast routes (test_cpu_routes.py, test_gpu_routes.py) share: the tolerances of
"the same numbers up to float rounding", and random inputs."""
import numpy as np

from emsm_np.backend import asnumpy

TOL = {np.float64: dict(rtol=1e-11, atol=1e-11), np.float32: dict(rtol=2e-5, atol=2e-5)}
DTYPES = [np.float64, np.float32]


def same(got, want, dtype):
    """``got`` (NumPy or CuPy) equals the reference's ``want`` to rounding in ``dtype``, both None or neither."""
    assert (got is None) == (want is None)
    if got is None:
        return
    got, want = asnumpy(got), np.asarray(want)  # (a 0-d reference result may be a NumPy scalar)
    assert got.dtype == want.dtype and got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * scale)


def data(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)
