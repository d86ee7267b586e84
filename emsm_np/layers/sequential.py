"""``Sequential``: layers applied in order; backward runs them in reverse.

Its ``params``, ``grads`` and ``buffers`` are flat dicts keyed ``"<i>.<name>"``
(``"0.weight"``, ``"1.running_mean"``) whose values are the sub-layers' own
arrays, so an optimiser that updates ``params[k][...]`` in place updates the
layer. They are rebuilt on every access, so they stay right after ``to(device)``
replaces the arrays.
"""
from .._checks import non_finite_in
from ..backend import asnumpy
from .base import merged

_LAYER_METHODS = ("forward", "backward", "to", "state_dict", "load_state_dict")


class Sequential:
    """A chain of layers: ``forward`` maps x through each in turn.

    Parameters
    ----------
    *layers : objects following the Layer contract (``forward(x, train)``,
        ``backward(dy)``, ``params``/``grads``/``buffers`` dicts, ``to``,
        ``state_dict``/``load_state_dict``); a ``Sequential`` nests

    Attributes
    ----------
    layers : list of the layers, in order
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            raise TypeError("pass the layers as separate arguments: Sequential(*layers), not Sequential([...])")
        for i, layer in enumerate(layers):
            missing = [a for a in _LAYER_METHODS + ("params", "grads", "buffers") if not hasattr(layer, a)]
            if missing:
                raise TypeError(
                    f"layers[{i}] must be a layer (with {', '.join(_LAYER_METHODS)}, params, "
                    f"grads, buffers), got {type(layer).__name__} lacking {', '.join(missing)}"
                )
        self.layers = list(layers)

    # ------------------------------------------------------------ computation
    # An inf or NaN that NumPy raises in a layer (under np.errstate(over="raise", ...), as the
    # training loop sets it) leaves as a NonFiniteError naming the layer and the pass.

    def forward(self, x, train=True):
        for i, layer in enumerate(self.layers):
            with non_finite_in(f"the forward pass of layer {i} ({type(layer).__name__})"):
                x = layer.forward(x, train=train)
        return x

    def __call__(self, x, train=True):
        return self.forward(x, train=train)

    def backward(self, dy):
        # Chain rule: each layer turns dL/d(its output) into dL/d(its input).
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            with non_finite_in(f"the backward pass of layer {i} ({type(layer).__name__})"):
                dy = layer.backward(dy)
        return dy

    # ------------------------------------------------------------ parameters

    def _flat(self, attr):
        return merged(((str(i), layer) for i, layer in enumerate(self.layers)), attr)

    @property
    def params(self):
        return self._flat("params")

    @property
    def grads(self):
        return self._flat("grads")

    @property
    def buffers(self):
        return self._flat("buffers")

    def named_parameters(self):
        """Yield ``(key, param, grad)`` for every parameter, keys as in ``params``."""
        grads = self.grads
        for k, p in self.params.items():
            yield k, p, grads[k]

    def zero_grad(self):
        for layer in self.layers:
            for g in layer.grads.values():
                g[...] = 0

    def to(self, device):
        """Move every sub-layer to ``"cpu"`` or ``"gpu"`` (in place); return self."""
        if device not in ("cpu", "gpu"):
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        for layer in self.layers:
            layer.to(device)
        return self

    # ------------------------------------------------------------ checkpoints

    def state_dict(self):
        """Every sub-layer's state, keys prefixed ``"<i>."`` (NumPy copies)."""
        return {f"{i}.{k}": asnumpy(v).copy()
                for i, layer in enumerate(self.layers) for k, v in layer.state_dict().items()}

    def load_state_dict(self, state):
        """Copy a :meth:`state_dict` into the sub-layers, in place."""
        used = set()
        for i, layer in enumerate(self.layers):
            prefix = f"{i}."
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            used.update(prefix + k for k in sub)
            layer.load_state_dict(sub)
        unexpected = sorted(set(state) - used)
        if unexpected:
            raise KeyError(f"state has keys that match no layer of this Sequential: {unexpected}")

    # ------------------------------------------------------------ container

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        if not self.layers:
            return "Sequential()"
        lines = []
        for i, layer in enumerate(self.layers):
            body = repr(layer).replace("\n", "\n  ")
            lines.append(f"  ({i}): {body}")
        return "Sequential(\n" + "\n".join(lines) + "\n)"
