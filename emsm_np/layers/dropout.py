"""``Dropout``: inverted dropout over :mod:`emsm_np.functional.dropout`."""
import numpy as np

from .._checks import check_array
from ..backend import get_array_module
from ..functional._inputs import check_drop_probability
from ..functional.dropout import dropout_mask
from ..ops import dropout_backward, dropout_forward
from .base import Layer, default_rng


class Dropout(Layer):
    """Zero each entry with probability ``p`` in train mode, scaling the rest by 1/(1-p).

    Identity when ``train=False`` or ``p == 0``.

    Parameters
    ----------
    p : float in [0, 1), drop probability
    rng : seed or numpy Generator. On the CPU every mask is drawn from this
        generator, so training is deterministic for a seed. On the GPU each mask
        is drawn with a ``cupy.random.RandomState`` (Philox) seeded afresh from
        this generator, so there too a mask is a function of its state.

    Attributes
    ----------
    rng : the numpy Generator behind the masks, on either device. The training
        loop checkpoints ``rng.bit_generator.state`` and restores it by
        assignment; the restored layer then draws exactly the masks the saved
        one would have. Assigning ``rng`` itself (a seed or a Generator)
        replaces the generator.
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = check_drop_probability(p)
        self.rng = rng

    @property
    def rng(self):
        return self._rng

    @rng.setter
    def rng(self, value):
        self._rng = default_rng(value)
        self._gpu_rng = None  # the GPU generator, created at the first GPU forward

    def _generator_for(self, x):
        xp = get_array_module(x)
        if xp is np:
            return self._rng
        # Seed the GPU generator from the host generator before every mask, so that
        # the mask depends on rng's state alone and a restored state (a resumed run)
        # gives the masks the uninterrupted run drew. Philox is counter-based:
        # seeding it is a host-side call, with no state-setup kernel (XORWOW's has one).
        seed = int(self._rng.integers(2**63))
        if self._gpu_rng is None:
            self._gpu_rng = xp.random.RandomState(seed, method=xp.cuda.curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
        else:
            self._gpu_rng.seed(seed)
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
