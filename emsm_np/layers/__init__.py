"""Layers: thin classes over the forward/backward pairs in :mod:`emsm_np.functional`.

Contract: ``forward(x, train=True) -> y``, ``backward(dy) -> dx``; trainable
arrays in ``params``, their gradients in ``grads`` (same keys), non-trainable
state in ``buffers``. A ``Sequential`` is a layer too, whose children are its layers.
See :mod:`emsm_np.layers.base`.
"""
from .prelu import PReLU
from .relu import ReLU
from .base import Layer
from .batch_norm import BatchNorm1d, BatchNorm2d
from .conv2d import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .linear import Linear
from .max_pool2d import MaxPool2d
from .sequential import Sequential

__all__ = ["Layer", "Linear", "Conv2d", "MaxPool2d", "BatchNorm1d", "BatchNorm2d", "ReLU",
           "PReLU", "Dropout", "Flatten", "Sequential"]
