"""``Network``: a feature extractor (``Sequential``) followed by the EM-Softmax head.

Training step::

    loss = net.loss(x, y)      # forward through features and head
    net.backward()             # fills net.grads
    opt.step()                 # reads net.params / net.grads

A ``Layer`` with two children, ``features`` and ``head``: ``net.params`` /
``net.grads`` / ``net.buffers`` are flat dicts keyed ``"features.<i>.<name>"`` and
``"head.weight"`` holding the layers' own arrays, and ``net.state_dict()`` is keyed
``"features.<i>.params.<name>"``, ``"head.params.weight"`` (see
:mod:`emsm_np.layers.base`, which implements both, ``to`` and ``load_state_dict`` once).
"""
from .._checks import non_finite_in
from ..layers.base import Layer
from ..layers.batch_norm import BatchNorm1d, BatchNorm2d
from ..layers.prelu import PReLU


class Network(Layer):
    """Features then head; see the module docstring.

    Parameters
    ----------
    features : Sequential mapping images (N, C, H, W) to features (N, d)
    head : EMSoftmax over d features, or any head with its interface (the compared
        losses of :mod:`emsm_np.losses`, e.g. ``LSoftmax``)
    name : str, for display
    """

    def __init__(self, features, head, name="network"):
        super().__init__()
        self.features = features
        self.head = head
        self.name = name
        # The input images need no gradient: let the first layer skip dL/dx
        # (for a first convolution that is most of its backward pass).
        if len(features) and hasattr(features[0], "input_grad"):
            features[0].input_grad = False

    def named_children(self):
        return (("features", self.features), ("head", self.head))

    def _keys_it_lacks(self):
        return "belong to neither the features nor the head"

    def no_decay(self):
        """Parameter names exempt from weight decay: biases, batch-norm and PReLU parameters,
        and those the head names in its ``no_decay`` (N-Softmax's learned scale)."""
        names = []
        for i, layer in enumerate(self.features.layers):
            for k in layer.params:
                if k == "bias" or isinstance(layer, (BatchNorm1d, BatchNorm2d, PReLU)):
                    names.append(f"features.{i}.{k}")
        names += [f"head.{k}" for k in getattr(self.head, "no_decay", ())]
        return names

    def num_parameters(self):
        return int(sum(p.size for p in self.params.values()))

    def embed(self, x, train=False):
        """Features (N, d) of images x."""
        return self.features.forward(x, train=train)

    def loss(self, x, y):
        """Training loss on a batch (train mode: batch statistics, dropout on)."""
        features = self.features.forward(x, train=True)
        with non_finite_in("the head's forward pass"):  # (the features name their own layers)
            return self.head.forward(features, y)

    def backward(self):
        with non_finite_in("the head's backward pass"):
            dx = self.head.backward()
        self.features.backward(dx)

    def logits(self, x):
        """Test-time logits of the averaged classifier (eval mode)."""
        return self.head.logits(self.embed(x))

    def weak_logits(self, x):
        """Logits (V, N, K) of each weak classifier (eval mode)."""
        return self.head.weak_logits(self.embed(x))

    def __repr__(self):
        return f"Network({self.name!r},\n  features={self.features!r},\n  head={self.head!r})"
