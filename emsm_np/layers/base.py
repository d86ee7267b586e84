"""The layer contract shared by every layer, container and loss head in emsm_np.

A layer is a thin, stateful wrapper over a stateless forward/backward pair in
:mod:`emsm_np.functional`:

- ``forward(x, train=True) -> y`` keeps the cache that backward needs;
- ``backward(dy) -> dx`` fills ``grads`` (same keys as ``params``);
- ``params``: trainable arrays, the very arrays the layer computes with, so
  ``layer.params["weight"][...] = w`` changes the layer;
- ``buffers``: non-trainable state (batch-norm running statistics).

A layer may be built from other layers, its *children*: a ``Sequential`` from
its layers, a ``Network`` from its features and its head. ``named_children()``
lists them, each with the name that prefixes its keys. The dicts, device moves
and checkpoints below are written once, here, for every layer, with or without
children; the keys are formed as in this network (``Network`` of ``features``, a
``Sequential`` whose layer 3 is a ``Linear`` and layer 4 a ``BatchNorm1d``, and ``head``)::

    net.params / grads      "features.3.weight"          "head.weight"
    net.state_dict()        "features.3.params.weight"   "head.params.weight"
                            "features.4.buffers.running_mean"

Optimisers read ``params`` and ``grads``; nothing else reaches in.
"""
import numpy as np

from ..backend import asnumpy, get_array_module, get_cupy


class _Arrays:
    """``layer.params``, ``layer.grads`` or ``layer.buffers``: a dict name -> array.

    Read, it is the layer's own dict when the layer has no children (so
    ``layer.buffers["n"] = a`` stores ``a``), else a new dict each time: the layer's
    own arrays, then every child's under ``"<child name>.<key>"``. The values are
    the arrays themselves (no copies), so ``net.params[k][...] = w`` updates the
    child that owns ``k``; a key stored into that new dict is lost. Assigned
    (``self.grads = {...}``, as layers do in ``__init__``), it replaces the layer's
    own dict, kept as ``layer._own_grads``. (A descriptor: Python calls ``__get__``
    for ``layer.params`` and ``__set__`` for ``layer.params = d``.)
    """

    def __init__(self, name):
        self.name, self.own = name, "_own_" + name  # "params", "_own_params"

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        own = getattr(layer, self.own)
        children = layer.named_children()
        if not children:
            return own
        out = dict(own)
        for child_name, child in children:
            for k, v in getattr(child, self.name).items():
                out[f"{child_name}.{k}"] = v
        return out

    def __set__(self, layer, value):
        setattr(layer, self.own, value)


class Layer:
    """Base of every layer, container and loss head.

    It holds the layer's own arrays (``params``, ``grads``, ``buffers``) and, through
    :meth:`named_children`, the layers it is built from; ``zero_grad``, ``to``,
    ``state_dict`` and ``load_state_dict`` cover both. A subclass defines ``forward``
    and ``backward``, and a container ``named_children``.
    """

    params = _Arrays("params")
    grads = _Arrays("grads")
    buffers = _Arrays("buffers")

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self._cache = None

    def named_children(self):
        """``(name, child)`` pairs of the layers this one is built from; none by default.

        A container overrides it (``Sequential``: ``("0", layer0), ("1", layer1), ...``).
        A child's keys appear in this layer's dicts and state as ``"<name>.<key>"``.
        """
        return ()

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

    def _finish_backward(self, dx, **grads):
        """The end of a leaf layer's backward: copy each gradient into ``grads`` in place (None:
        a parameter the layer does not have, an absent bias; nothing to copy where the backward
        wrote into ``grads`` itself, as :mod:`emsm_np.ops` does when given ``out``), drop the
        cache, return ``dx``."""
        for name, g in grads.items():
            if g is not None and g is not self.grads[name]:
                self.grads[name][...] = g
        self._cache = None
        return dx

    def zero_grad(self):
        for g in self.grads.values():
            g[...] = 0

    def to(self, device):
        """Move params, grads and buffers (this layer's and its children's) to ``"cpu"``
        or ``"gpu"``, in place; return self."""
        if device == "cpu":
            move = asnumpy
        elif device == "gpu":
            move = get_cupy().asarray
        else:
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        for store in (self._own_params, self._own_grads, self._own_buffers):
            for k in store:
                store[k] = move(store[k])
        self._cache = None
        for _, child in self.named_children():
            child.to(device)
        return self

    def state_dict(self):
        """Params and buffers as a flat dict of NumPy arrays (copies), for checkpoints:
        the own ones keyed ``"params.<key>"`` and ``"buffers.<key>"``, then every child's
        state under ``"<child name>."``."""
        out = {f"params.{k}": asnumpy(v).copy() for k, v in self._own_params.items()}
        out.update({f"buffers.{k}": asnumpy(v).copy() for k, v in self._own_buffers.items()})
        for name, child in self.named_children():
            out.update({f"{name}.{k}": v for k, v in child.state_dict().items()})
        return out

    def load_state_dict(self, state):
        """Copy arrays from :meth:`state_dict` output into this layer, in place.

        Every key must match: a missing one or one this layer does not have (a checkpoint
        of another configuration, e.g. a learned scale loaded into a fixed-scale head) is
        a ``KeyError`` naming it, not a silent partial load. Each child checks the keys
        under its name (without the prefix), so the error names the layer concerned."""
        own = [(f"{kind}.{k}", store, k)
               for kind, store in (("params", self._own_params), ("buffers", self._own_buffers))
               for k in store]
        children = self.named_children()
        prefixes = tuple(f"{name}." for name, _ in children)
        own_keys = {key for key, _, _ in own}
        unexpected = sorted(k for k in state if k not in own_keys and not k.startswith(prefixes))
        if unexpected:
            raise KeyError(f"state has keys that {self._keys_it_lacks()}: {unexpected}")
        for key, store, k in own:
            if key not in state:
                raise KeyError(f"state is missing {key!r} for {type(self).__name__}")
            v = store[k]
            if tuple(state[key].shape) != tuple(v.shape):
                raise ValueError(
                    f"state[{key!r}] has shape {tuple(state[key].shape)}, "
                    f"expected {tuple(v.shape)} for {type(self).__name__}"
                )
            v[...] = get_array_module(v).asarray(state[key], dtype=v.dtype)
        for name, child in children:
            prefix = f"{name}."
            child.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})

    def _keys_it_lacks(self):
        """How :meth:`load_state_dict` says which keys are not this layer's."""
        return f"{type(self).__name__} does not have"

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


def default_rng(seed):
    """A NumPy Generator for parameter initialisation (always on the CPU)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
