"""emsm_np: EM-Softmax (Wang et al., IJCAI 2018) in pure NumPy/CuPy.

Subpackages
-----------
backend     array module from the inputs; CPU/GPU moves
functional  stateless forward/backward pairs, one operation per file: the reference routes
cpu         fast CPU routes of some of them (worker threads, other orders of the same sums)
ops         the dispatcher: which route computes an operation
layers      thin layer classes over the operations (through ops)
losses      the Softmax / M-Softmax / E-Softmax / EM-Softmax head
gradcheck   central-difference gradient checks
optim       momentum SGD and the step learning-rate schedule
models      the paper's LiuNets and a small lenet, with the head
data        MNIST, Fashion-MNIST, CIFAR readers, the embedded sample, batching
training    the training loop with checkpoints and exact resume, evaluation, plots
cli         the ``emsm`` command
"""
from . import backend, gradcheck  # noqa: F401

__version__ = "0.1.0"
