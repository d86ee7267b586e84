r"""
On a GPU with CuPy
==================

Everything in tutorials 01-06 ran on NumPy arrays. The same code runs on an
NVIDIA GPU through `CuPy <https://cupy.dev>`_, whose arrays copy NumPy's API,
without a second implementation: every compute function in emsm_np starts
with

.. code-block:: python

   xp = get_array_module(x, ...)

and then calls only ``xp.*``, so ``xp`` is :mod:`numpy` when the inputs are
NumPy arrays and :mod:`cupy` when they are CuPy arrays (Chainer's convention).
There is no global "device" switch: **the computation follows the inputs**.
This tutorial shows

* how to ask whether a GPU is usable (:func:`emsm_np.backend.gpu_available`),
* how the array module follows the inputs,
* how to move arrays and whole models between the CPU and the GPU,
* and how long one training step takes on each.

Without a GPU (CuPy not installed, or no CUDA device) the script says so and
runs the CPU part only. Install CuPy with ``pip install -e '.[gpu]'`` on a
machine with a CUDA GPU.
"""

# %%
# Setup: is there a GPU?
# ----------------------
#
# ``import cupy`` succeeds on machines without a GPU, so
# :func:`~emsm_np.backend.gpu_available` also asks
# ``cupy.cuda.is_available()``.

import os
import time

import numpy as np

from emsm_np.backend import (
    GPUUnavailableError,
    asnumpy,
    device_of,
    get_array_module,
    gpu_available,
    to_device,
)
from emsm_np.data import load_dataset
from emsm_np.functional.conv2d import conv2d_forward
from emsm_np.gradcheck import rel_error
from emsm_np.models import build_network
from emsm_np.optim import SGD

FAST = os.environ.get("EMSM_FAST") == "1"
GPU = gpu_available()
if GPU:
    import cupy as cp

    name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
    print("GPU available:", name.decode() if isinstance(name, bytes) else name, "| CuPy", cp.__version__)
else:
    print("NOTICE: no usable GPU here (CuPy is not installed, or it finds no CUDA device).\n"
          "        This tutorial runs its CPU part only; the GPU cells print what they would do.")

# %%
# The array module follows the inputs
# -----------------------------------
#
# :func:`~emsm_np.backend.get_array_module` returns :mod:`cupy` if any of its
# arguments is a CuPy array, and :mod:`numpy` otherwise (``None`` and Python
# scalars are ignored). A function written against ``xp`` therefore runs
# wherever its inputs live. Here is one in the library's style, the softplus
# :math:`\log(1 + e^x)`, computed stably:


def softplus(x):
    xp = get_array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


x = np.linspace(-3, 3, 7)
print("module:", get_array_module(x).__name__, "| device:", device_of(x))
print("softplus on the CPU:", np.round(softplus(x), 4))

if GPU:
    xg = to_device(x, "gpu")  # a CuPy array, a copy in GPU memory
    print("module:", get_array_module(xg).__name__, "| device:", device_of(xg))
    yg = softplus(xg)         # the same function, now computed by CUDA kernels
    print("softplus on the GPU:", np.round(asnumpy(yg), 4), type(yg).__module__)
    assert np.allclose(asnumpy(yg), softplus(x))

# %%
# The library's operations work the same way. A convolution on the GPU takes
# its input and weights there; the result stays there until
# :func:`~emsm_np.backend.asnumpy` (or ``to_device(a, "cpu")``) copies it back.
# Mixing devices in one call is an error, never a silent copy.

rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 8, 8))
w = rng.standard_normal((4, 3, 3, 3))
out_cpu, _ = conv2d_forward(x, w, padding=1)
print("CPU convolution:", out_cpu.shape, device_of(out_cpu))
if GPU:
    out_gpu, _ = conv2d_forward(to_device(x, "gpu"), to_device(w, "gpu"), padding=1)
    print("GPU convolution:", out_gpu.shape, device_of(out_gpu))
    err = float(np.abs(asnumpy(out_gpu) - out_cpu).max())
    print(f"largest difference, float64: {err:.1e}")
    assert err < 1e-10

# %%
# No silent fallbacks
# -------------------
#
# Asking for the GPU where there is none raises
# :class:`~emsm_np.backend.GPUUnavailableError` saying why, instead of quietly
# running on the CPU (a run that you believe is on a GPU but is not would waste
# hours). The packaged trainer does the same for ``TrainConfig(device="gpu")``
# and ``emsm train --device gpu``.

try:
    moved = to_device(x, "gpu")
    print("moved to", device_of(moved))
except GPUUnavailableError as exc:
    print("GPUUnavailableError:", exc)

# %%
# Moving a model
# --------------
#
# Layers, :class:`~emsm_np.layers.Sequential` and
# :class:`~emsm_np.models.Network` have ``.to("gpu")`` and ``.to("cpu")``,
# which replace every parameter, gradient and buffer (batch-norm running
# statistics) by a copy on the other device, in place, and return the model.
# Because the arrays are *replaced*, build the optimiser after the move: an
# :class:`~emsm_np.optim.SGD` made before it would hold the old arrays.
#
# Weights are always initialised on the CPU from a seeded NumPy generator, so
# a model built with the same seed starts from the same numbers on either
# device.

net = build_network("lenet", seed=0)
print(f"lenet: {net.num_parameters():,} parameters, on the {device_of(net.params['head.weight'])}")
if GPU:
    net.to("gpu")
    print("after .to('gpu'):", {device_of(p) for p in net.params.values()})
    net.to("cpu")
    print("after .to('cpu'):", {device_of(p) for p in net.params.values()})
else:
    print("(with a GPU: net.to('gpu') moves all of it there, net.to('cpu') brings it back)")

# %%
# Timing a training step
# ----------------------
#
# One SGD step of ``lenet`` (conv 5x5x32 - pool - conv 5x5x64 - pool - FC 128 -
# EM-Softmax with :math:`V = 2`) on a batch of MNIST images. GPU work is
# asynchronous: a kernel launch returns before the kernel finishes, so the
# clock is read only after ``synchronize()``. The first GPU steps also compile
# and cache CuPy's kernels, so a few warm-up steps come before the timing.

ds = load_dataset("mnist-sample")
batch = 16 if FAST else 64
steps = 2 if FAST else 5
xb, yb = ds.x_train[:batch], ds.y_train[:batch]


def time_steps(device, steps, warmup=1):
    net = build_network("lenet", ensemble=2, margin=0.3, lam=0.01, seed=0).to(device)
    opt = SGD(net, lr=0.01, no_decay=net.no_decay())  # reads the moved arrays at each step
    x, y = to_device(xb, device), to_device(yb, device)
    sync = cp.cuda.Device().synchronize if device == "gpu" else (lambda: None)
    for _ in range(warmup):
        net.loss(x, y)
        net.backward()
        opt.step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = net.loss(x, y)
        net.backward()
        opt.step()
    sync()
    return (time.perf_counter() - t0) / steps, loss


cpu_s, cpu_loss = time_steps("cpu", steps)
print(f"CPU: {1000 * cpu_s:7.1f} ms per step (batch {batch}), loss {cpu_loss:.4f}")
if GPU:
    gpu_s, gpu_loss = time_steps("gpu", 10 * steps, warmup=3)
    print(f"GPU: {1000 * gpu_s:7.1f} ms per step (batch {batch}), loss {gpu_loss:.4f}")
    print(f"speed-up: {cpu_s / gpu_s:.1f}x")
else:
    print("GPU: skipped (no usable GPU)")

# %%
# The two losses differ in the last digits only: float32 arithmetic in a
# different order. At this size the GPU's advantage is modest, since the
# network is tiny and a step is mostly kernel launches; it grows with the
# batch and with the width of the network (the paper's LiuNets). On CuPy
# arrays the layers take the fast GPU routes of :mod:`emsm_np.gpu` (chosen in
# :mod:`emsm_np.ops`, like the fast CPU routes on NumPy arrays): im2col as one
# gather, elementwise chains fused into one kernel with ``cupy.fuse``, and the
# SGD update of every parameter as one kernel over flat buffers, so a lenet step
# at batch 128 is 74 array operations where the textbook routes take 389
# (``with emsm_np.ops.reference_routes():`` runs those instead). To train on
# the GPU, pass ``device="gpu"`` to :class:`~emsm_np.training.TrainConfig` or
# run ``emsm train --device gpu``; the training set is copied to the GPU once,
# each batch is gathered there, and a training step copies nothing between host
# and device (the evaluation copies its predictions back).

# %%
# Same numbers on both devices
# ----------------------------
#
# The strongest check that the GPU runs the same algorithm: in float64, one
# forward and backward pass from the same weights gives the same loss and the
# same gradient for every parameter, up to round-off (measured with the
# relative error of :mod:`emsm_np.gradcheck`).

if GPU:
    grads = {}
    for device in ("cpu", "gpu"):
        net = build_network("lenet", ensemble=2, margin=0.3, lam=0.01, dtype=np.float64, seed=0).to(device)
        loss = net.loss(to_device(xb.astype(np.float64), device), to_device(yb, device))
        net.backward()
        grads[device] = {k: asnumpy(g) for k, g in net.grads.items()}
        print(f"{device}: loss {loss:.12f}")
    worst = max(rel_error(grads["gpu"][k], grads["cpu"][k]) for k in grads["cpu"])
    print(f"largest relative difference over {len(grads['cpu'])} gradients: {worst:.1e}")
    assert worst < 1e-8
else:
    print("skipped: this comparison needs a GPU")
