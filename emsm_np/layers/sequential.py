"""``Sequential``: layers applied in order; backward runs them in reverse.

A ``Layer`` whose children are its layers, named ``"0"``, ``"1"``, ...: its
``params``, ``grads`` and ``buffers`` are flat dicts keyed ``"<i>.<name>"``
(``"0.weight"``, ``"1.running_mean"``) whose values are the sub-layers' own
arrays, and its state dict is keyed ``"<i>.params.<name>"`` (see
:mod:`emsm_np.layers.base`, which implements both, and ``to``, once).
"""
from .._checks import non_finite_in
from .base import Layer

_LAYER_METHODS = ("forward", "backward", "to", "state_dict", "load_state_dict")


class Sequential(Layer):
    """A chain of layers: ``forward`` maps x through each in turn.

    Parameters
    ----------
    *layers : objects following the Layer contract (``forward(x, train)``,
        ``backward(dy)``, ``params``/``grads``/``buffers`` dicts, ``to``,
        ``state_dict``/``load_state_dict``); a ``Sequential`` nests

    Attributes
    ----------
    layers : list of the layers, in order (the children, named by their index)
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
        super().__init__()
        self.layers = list(layers)

    def named_children(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def _keys_it_lacks(self):
        return "match no layer of this Sequential"

    # ------------------------------------------------------------ computation
    # An inf or NaN that NumPy raises in a layer (under np.errstate(over="raise", ...), as the
    # training loop sets it) leaves as a NonFiniteError naming the layer and the pass.

    def forward(self, x, train=True):
        for i, layer in enumerate(self.layers):
            with non_finite_in(f"the forward pass of layer {i} ({type(layer).__name__})"):
                x = layer.forward(x, train=train)
        return x

    def backward(self, dy):
        # Chain rule: each layer turns dL/d(its output) into dL/d(its input).
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            with non_finite_in(f"the backward pass of layer {i} ({type(layer).__name__})"):
                dy = layer.backward(dy)
        return dy

    def named_parameters(self):
        """Yield ``(key, param, grad)`` for every parameter, keys as in ``params``."""
        grads = self.grads
        for k, p in self.params.items():
            yield k, p, grads[k]

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
