"""Stochastic gradient descent with momentum and weight decay, and step schedules.

The update is PyTorch's ``torch.optim.SGD`` (dampening 0, no Nesterov)::

    g <- grad + weight_decay * w        (only for parameters with decay)
    v <- momentum * v + g
    w <- w - lr * v

Parameters are updated in place, so the arrays that the layers compute with
see the change. The paper's recipe (after L-Softmax): momentum 0.9, weight
decay 5e-4 on weights but none on batch-norm parameters and biases, learning
rate 0.1 divided by 10 at given iterations.
"""
from ._checks import check_float
from .backend import asnumpy, get_array_module

__all__ = ["SGD", "step_lr"]


class SGD:
    """Momentum SGD over a dict of parameters.

    Parameters
    ----------
    params, grads : dicts name -> array (the same keys), e.g. a model's
        ``params`` and ``grads``; the arrays are updated in place
    lr : float > 0
    momentum : float in [0, 1)
    weight_decay : float >= 0
    no_decay : iterable of parameter names exempt from weight decay
    """

    def __init__(self, params, grads, lr=0.1, momentum=0.9, weight_decay=5e-4, no_decay=()):
        self.params = params
        self.grads = grads
        self.lr = check_float("lr", lr, minimum=0.0, min_inclusive=False)
        self.momentum = check_float("momentum", momentum, minimum=0.0)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be < 1, got {self.momentum}")
        self.weight_decay = check_float("weight_decay", weight_decay, minimum=0.0)
        self.no_decay = set(no_decay)
        unknown = self.no_decay - set(params)
        if unknown:
            raise ValueError(f"no_decay names parameters that do not exist: {sorted(unknown)}")
        if set(params) != set(grads):
            raise ValueError("params and grads must have the same keys")
        self.velocity = {}

    def step(self):
        for name, w in self.params.items():
            g = self.grads[name]
            if self.weight_decay and name not in self.no_decay:
                g = g + self.weight_decay * w
            v = self.velocity.get(name)
            if v is None:
                v = self.velocity[name] = get_array_module(w).zeros_like(w)
            v *= self.momentum
            v += g
            w -= self.lr * v

    def state_dict(self):
        """Velocities (as NumPy arrays) and the learning rate, for checkpoints."""
        state = {f"velocity.{k}": asnumpy(v).copy() for k, v in self.velocity.items()}
        state["lr"] = self.lr
        return state

    def load_state_dict(self, state):
        self.lr = float(state["lr"])
        self.velocity = {}
        for name, w in self.params.items():
            key = f"velocity.{name}"
            if key in state:
                xp = get_array_module(w)
                self.velocity[name] = xp.asarray(state[key], dtype=w.dtype)


def step_lr(base_lr, iteration, milestones, gamma=0.1):
    """Learning rate at ``iteration``: ``base_lr * gamma ** (number of milestones <= iteration)``."""
    return base_lr * gamma ** sum(1 for m in milestones if iteration >= m)
