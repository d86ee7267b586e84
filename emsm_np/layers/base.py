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

    def state_dict(self):
        """Params and buffers as a flat dict of NumPy arrays (copies), for checkpoints."""
        out = {f"params.{k}": asnumpy(v).copy() for k, v in self.params.items()}
        out.update({f"buffers.{k}": asnumpy(v).copy() for k, v in self.buffers.items()})
        return out

    def load_state_dict(self, state):
        """Copy arrays from :meth:`state_dict` output into this layer, in place.

        Every key must match: a missing one or one this layer does not have (a checkpoint
        of another configuration, e.g. a learned scale loaded into a fixed-scale head) is
        a ``KeyError`` naming it, not a silent partial load."""
        own = {f"{kind}.{k}" for kind, store in (("params", self.params), ("buffers", self.buffers)) for k in store}
        unexpected = sorted(set(state) - own)
        if unexpected:
            raise KeyError(f"state has keys that {type(self).__name__} does not have: {unexpected}")
        for kind, store in (("params", self.params), ("buffers", self.buffers)):
            for k, v in store.items():
                key = f"{kind}.{k}"
                if key not in state:
                    raise KeyError(f"state is missing {key!r} for {type(self).__name__}")
                if tuple(state[key].shape) != tuple(v.shape):
                    raise ValueError(
                        f"state[{key!r}] has shape {tuple(state[key].shape)}, "
                        f"expected {tuple(v.shape)} for {type(self).__name__}"
                    )
                v[...] = _to_like(state[key], v)

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


def _to_like(a, like):
    """``a`` as an array on the same device (and dtype) as ``like``."""
    from ..backend import get_array_module

    xp = get_array_module(like)
    return xp.asarray(a, dtype=like.dtype)


def merged(children, attr):
    """One flat dict of the children's ``attr`` dicts (``params``, ``grads`` or ``buffers``).

    ``children`` : pairs ``(name, child)``; keys become ``"<name>.<key>"``. The values
    are the children's own arrays (no copies), so updating one updates the child.
    """
    return {f"{name}.{k}": v for name, child in children for k, v in getattr(child, attr).items()}


def default_rng(seed):
    """A NumPy Generator for parameter initialisation (always on the CPU)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
