"""A model's parameters, gradients and SGD velocities as views of three flat device buffers.

:class:`emsm_np.optim.SGD` updates each parameter with its own few kernels; a
network like liunet-mnist has 45 parameters, so on a GPU the update alone is
45 launches or more. Laid end to end in one buffer each, every parameter, its
gradient and its velocity are slices of three arrays, and the whole update of
``SGD`` is one fused kernel over them (with the weight decay of each element in
a fourth, constant buffer: the decay or 0)::

    v <- momentum v + (g + decay w)
    w <- w - lr v

:func:`flatten` makes the model's own arrays those views, copying each value
once: the layers compute with the views, the backward passes write their
gradients into them (:mod:`emsm_np.ops`, ``out``), and nothing else changes.
:meth:`FlatParameters.matches` tells whether the model still uses them (a move
to another device, or anything that replaces a parameter array, ends it; the
optimiser then lays them out again).
"""
import numpy as np

from ..backend import get_array_module
from .sgd import sgd_decay_kernel


def _own_arrays(layer, prefix=""):
    """``(name, layer, key)`` of every parameter of ``layer`` and its children, named as ``layer.params``."""
    for key in layer._own_params:
        yield prefix + key, layer, key
    for child_name, child in layer.named_children():
        yield from _own_arrays(child, f"{prefix}{child_name}.")


class FlatParameters:
    """The flat buffers of one model: ``params``, ``grads``, ``velocity`` and ``decay``, and the views."""

    def __init__(self, model, velocity, weight_decay, no_decay):
        entries = list(_own_arrays(model))
        first = entries[0][1]._own_params[entries[0][2]]
        xp, dtype = get_array_module(first), first.dtype
        sizes = [layer._own_params[key].size for _, layer, key in entries]
        total = int(sum(sizes))
        self.params, self.grads = xp.empty(total, dtype=dtype), xp.empty(total, dtype=dtype)
        self.velocity = xp.zeros(total, dtype=dtype)
        decay = np.zeros(total, dtype=dtype)
        self.views, start = {}, 0
        for (name, layer, key), size in zip(entries, sizes):
            part = slice(start, start + size)
            w, g = layer._own_params[key], layer._own_grads[key]
            self.params[part] = w.reshape(-1)
            self.grads[part] = g.reshape(-1)
            if name in velocity:
                self.velocity[part] = velocity[name].reshape(-1)
            decay[part] = 0.0 if name in no_decay else weight_decay
            layer._own_params[key] = self.params[part].reshape(w.shape)
            layer._own_grads[key] = self.grads[part].reshape(w.shape)
            velocity[name] = self.velocity[part].reshape(w.shape)
            self.views[name] = (layer._own_params[key], layer._own_grads[key], velocity[name])
            start += size
        self.decay = xp.asarray(decay)  # one upload, when the buffers are made

    def matches(self, params, grads, velocity):
        """Whether the model's arrays (``params``, ``grads`` by name) and ``velocity`` are still these views."""
        if params.keys() != self.views.keys():
            return False
        return all(params[n] is w and grads[n] is g and velocity.get(n) is v for n, (w, g, v) in self.views.items())

    def step(self, lr, momentum):
        """One SGD update of every parameter: one kernel (:mod:`emsm_np.gpu.sgd`'s, its decay an array)."""
        sgd_decay_kernel(get_array_module(self.params))(self.params, self.velocity, self.grads, float(lr),
                                                        float(momentum), self.decay)


def flatten(model, velocity, weight_decay, no_decay):
    """Lay out ``model``'s parameters, gradients and the ``velocity`` dict (name -> array, updated in
    place to the views) in flat buffers; return the :class:`FlatParameters`, or None where the
    parameters do not share one device and dtype."""
    arrays = [layer._own_params[key] for _, layer, key in _own_arrays(model)]
    if not arrays or len({(get_array_module(a), a.dtype) for a in arrays}) != 1:
        return None
    return FlatParameters(model, velocity, weight_decay, no_decay)
