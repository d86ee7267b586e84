"""Stochastic gradient descent with momentum and weight decay, and step schedules.

The update is PyTorch's ``torch.optim.SGD`` (dampening 0, no Nesterov)::

    g <- grad + weight_decay * w        (only for parameters with decay)
    v <- momentum * v + g
    w <- w - lr * v

Parameters are updated in place, so the arrays that the layers compute with
see the change. On the GPU, with the fast routes on (:mod:`emsm_np.ops`), the
update of an optimiser built from a model is one fused kernel for all its
parameters, which it lays out in flat buffers at the first step
(:mod:`emsm_np.gpu.flat`: the model's arrays become views of them); built from
two dicts, one fused kernel per parameter (:mod:`emsm_np.gpu.sgd`). The paper's recipe (Sec. 4.3): momentum 0.9, weight decay
5e-4, learning rate 0.1 divided by 10 at given iterations. Which parameters
the decay spares, the paper does not say; emsm_np follows the L-Softmax
prototxts (none on batch-norm parameters and biases).

Which arrays. ``model.to(device)`` replaces every parameter array by one on the
new device, so an optimiser that kept the arrays it was given would go on
updating the old ones. ``SGD`` therefore looks the arrays up by name at every
step: ``SGD(model, ...)`` reads ``model.params`` and ``model.grads`` afresh
(a ``Network``'s ``params`` is a new dict on each access, so pass the model
itself), and ``SGD(params, grads, ...)`` reads the two dicts it was given
(a layer's own dicts, which ``to`` updates in place, stay right). Each velocity
follows its parameter: after a move it is carried to the parameter's device
(one copy, at the first step after the move).
"""
from . import gpu, ops
from ._checks import check_float, check_same
from .backend import asnumpy, device_of, get_array_module

__all__ = ["SGD", "step_lr"]


class SGD:
    """Momentum SGD over named parameters, looked up at every step.

    Parameters
    ----------
    params : a model or layer (an object with ``params`` and ``grads`` dicts,
        e.g. a ``Network``; pass ``grads=None``), or a dict name -> array
    grads : None with a model; with a dict of params, the dict name -> array of
        their gradients (the same keys)
    lr : float > 0
    momentum : float in [0, 1)
    weight_decay : float >= 0
    no_decay : iterable of parameter names exempt from weight decay

    Both forms read the arrays by name at every :meth:`step`. Built from a model,
    the optimiser may be built before ``model.to(device)``. Built from a
    ``Network``'s ``net.params, net.grads`` (dicts made at that moment), it keeps
    the arrays of that moment: after a move it would update arrays that the
    model no longer uses, so pass ``net`` itself. See the module docstring.
    """

    def __init__(self, params, grads=None, lr=0.1, momentum=0.9, weight_decay=5e-4, no_decay=()):
        if grads is None:
            if isinstance(params, dict) or not (hasattr(params, "params") and hasattr(params, "grads")):
                raise TypeError(
                    "SGD needs a model (an object with params and grads, e.g. SGD(net, lr=...)) "
                    f"or two dicts SGD(params, grads, ...); got {type(params).__name__} and no grads"
                )
            self._model, self._params, self._grads = params, None, None
        else:
            if not isinstance(params, dict) or not isinstance(grads, dict):
                raise TypeError(
                    "SGD(params, grads) takes two dicts name -> array; pass a model alone as "
                    f"SGD(net, lr=...); got {type(params).__name__} and {type(grads).__name__}"
                )
            self._model, self._params, self._grads = None, params, grads
        self.lr = check_float("lr", lr, minimum=0.0, min_inclusive=False)
        self.momentum = check_float("momentum", momentum, minimum=0.0)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be < 1, got {self.momentum}")
        self.weight_decay = check_float("weight_decay", weight_decay, minimum=0.0)
        self.no_decay = set(no_decay)
        params, grads = self.params, self.grads
        unknown = self.no_decay - set(params)
        if unknown:
            raise ValueError(f"no_decay names parameters that do not exist: {sorted(unknown)}")
        if set(params) != set(grads):
            raise ValueError("params and grads must have the same keys")
        self.velocity = {}
        self._flat = None  # the GPU's flat buffers (see _flat_step)

    @property
    def params(self):
        """The current parameter arrays, by name (the model's, read now)."""
        return self._model.params if self._model is not None else self._params

    @property
    def grads(self):
        """The current gradient arrays, by name (the model's, read now)."""
        return self._model.grads if self._model is not None else self._grads

    def step(self):
        params, grads = self.params, self.grads
        if set(params) != set(grads):
            raise ValueError(
                f"params and grads must have the same keys; params only: {sorted(set(params) - set(grads))}, "
                f"grads only: {sorted(set(grads) - set(params))}"
            )
        if self._flat_step(params, grads):
            return
        for name, w in params.items():
            g = grads[name]
            # Metadata only: a gradient left on another device would be an error in the update.
            check_same((f"params[{name!r}]", w), (f"grads[{name!r}]", g))
            decay = self.weight_decay if name not in self.no_decay else 0.0
            v = self._velocity_like(name, w)
            if ops.fast_routes_enabled() and device_of(w) == "gpu":
                gpu.sgd.sgd_update(w, v, g, self.lr, self.momentum, decay)  # the three lines below
                continue
            if decay:
                g = g + decay * w
            v *= self.momentum
            v += g
            w -= self.lr * v

    def _flat_step(self, params, grads):
        """The GPU's fast route for an optimiser built from a model: the update of every parameter as one
        kernel over flat buffers (:mod:`emsm_np.gpu.flat`), laid out at the first step and again whenever
        the model stopped using them. False (nothing done) elsewhere."""
        if self._model is None or not params or not ops.fast_routes_enabled():
            return False
        if not all(device_of(w) == "gpu" for w in params.values()):
            return False
        if self._flat is None or not self._flat.matches(params, grads, self.velocity):
            for name, w in params.items():
                check_same((f"params[{name!r}]", w), (f"grads[{name!r}]", grads[name]))
                self._velocity_like(name, w)
            self._flat = gpu.flat.flatten(self._model, self.velocity, self.weight_decay, self.no_decay)
            if self._flat is None:  # parameters of several dtypes: one kernel each
                return False
        self._flat.step(self.lr, self.momentum)
        return True

    def _velocity_like(self, name, w):
        """The velocity of ``name`` on ``w``'s device and in its dtype (zeros at first)."""
        xp = get_array_module(w)
        v = self.velocity.get(name)
        if v is None:
            v = xp.zeros_like(w)
        elif tuple(v.shape) != tuple(w.shape):
            raise ValueError(
                f"velocity of {name!r} has shape {tuple(v.shape)} but the parameter has "
                f"{tuple(w.shape)}; the model changed under the optimiser"
            )
        elif device_of(v) != device_of(w):
            v = xp.asarray(asnumpy(v), dtype=w.dtype)  # the model moved: one copy, once
        elif v.dtype != w.dtype:
            v = v.astype(w.dtype)
        self.velocity[name] = v
        return v

    def state_dict(self):
        """Velocities (as NumPy arrays) and the learning rate, for checkpoints."""
        state = {f"velocity.{k}": asnumpy(v).copy() for k, v in self.velocity.items()}
        state["lr"] = self.lr
        return state

    def load_state_dict(self, state):
        """Restore :meth:`state_dict` output; velocities go to the parameters' device and dtype."""
        self.lr = float(state["lr"])
        self.velocity = {}
        for name, w in self.params.items():
            key = f"velocity.{name}"
            if key in state:
                # A copy: step() updates the velocity in place, and must not write
                # into the caller's state (np.asarray would return it as is).
                self.velocity[name] = get_array_module(w).array(state[key], dtype=w.dtype)


def step_lr(base_lr, iteration, milestones, gamma=0.1):
    """Learning rate at ``iteration``: ``base_lr * gamma ** (number of milestones <= iteration)``."""
    return base_lr * gamma ** sum(1 for m in milestones if iteration >= m)
