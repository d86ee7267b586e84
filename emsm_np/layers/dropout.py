"""``Dropout``: inverted dropout over :mod:`emsm_np.functional.dropout`."""
import numpy as np

from .._checks import check_array
from ..backend import get_array_module
from ..functional.dropout import check_drop_probability, dropout_backward, dropout_forward, dropout_mask
from .base import Layer, default_rng


class Dropout(Layer):
    """Zero each entry with probability ``p`` in train mode, scaling the rest by 1/(1-p).

    Identity when ``train=False`` or ``p == 0``.

    Parameters
    ----------
    p : float in [0, 1), drop probability
    rng : seed or numpy Generator. On the CPU every mask is drawn from this
        generator, so training is deterministic for a seed. On the GPU masks are
        drawn with ``cupy.random.RandomState``, seeded once from this generator.
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = check_drop_probability(p)
        self._rng = default_rng(rng)
        self._gpu_rng = None

    def _generator_for(self, x):
        xp = get_array_module(x)
        if xp is np:
            return self._rng
        if self._gpu_rng is None:
            self._gpu_rng = xp.random.RandomState(int(self._rng.integers(2**31 - 1)))
        return self._gpu_rng

    def forward(self, x, train=True):
        check_array("x", x)
        if not train or self.p == 0.0:
            self._cache = "identity"
            return x
        mask = dropout_mask(x, self.p, self._generator_for(x))
        out, self._cache = dropout_forward(x, mask, self.p)
        return out

    def backward(self, dy):
        cache = self._require_cache()
        self._cache = None
        if cache == "identity":
            return dy
        return dropout_backward(dy, cache)

    def extra_repr(self):
        return f"p={self.p}"
