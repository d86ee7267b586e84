"""The layer contract shared by every layer in emsm_np.

A layer is a thin, stateful wrapper over a stateless forward/backward pair in
:mod:`emsm_np.functional`:

- ``forward(x, train=True) -> y`` keeps the cache that backward needs;
- ``backward(dy) -> dx`` fills ``grads`` (same keys as ``params``);
- ``params``: trainable arrays, the very arrays the layer computes with, so
  ``layer.params["weight"][...] = w`` changes the layer;
- ``buffers``: non-trainable state (batch-norm running statistics).

Optimisers read ``params`` and ``grads``; nothing else reaches in.
"""
import numpy as np

from ..backend import asnumpy, get_cupy


class Layer:
    """Base class: empty ``params``/``grads``/``buffers`` and device moves."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self._cache = None

    def forward(self, x, train=True):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x, train=True):
        return self.forward(x, train=train)

    def _require_cache(self):
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward called before forward(x, train=True)"
            )
        return self._cache

    def zero_grad(self):
        for g in self.grads.values():
            g[...] = 0

    def to(self, device):
        """Move params, grads and buffers to ``"cpu"`` or ``"gpu"`` (in place); return self."""
        if device == "cpu":
            move = asnumpy
        elif device == "gpu":
            move = get_cupy().asarray
        else:
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        for store in (self.params, self.grads, self.buffers):
            for k in store:
                store[k] = move(store[k])
        self._cache = None
        return self

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


def default_rng(seed):
    """A NumPy Generator for parameter initialisation (always on the CPU)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
