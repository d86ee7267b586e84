"""Fast GPU routes: the operations of :mod:`emsm_np.functional`, in fewer, larger kernels on CuPy arrays.

On a GPU the cost of a small training step is the number of kernel launches
(some microseconds of host time each), not the arithmetic. The reference routes
launch one kernel per array operation: im2col one copy per kernel offset, batch
norm a dozen elementwise passes, SGD four per parameter. Each module here
computes what its namesake in :mod:`emsm_np.functional` computes, with every
elementwise chain fused into one kernel (:mod:`~emsm_np.gpu.fuse`), im2col as one
gather, and the batch as one batched GEMM; each is tested against the reference
under the CuPy double on every CI run (``tests/test_gpu_routes.py``) and on real
CuPy where there is a GPU. :mod:`emsm_np.ops` decides which route runs; read the
reference first. Like the reference, these routes do not validate their forward
inputs: :mod:`emsm_np.ops` checks them once before it dispatches.

- :mod:`~emsm_np.gpu.fuse`: one fused kernel per elementwise formula;
- :mod:`~emsm_np.gpu.conv2d`: im2col as one ``take``, the batch as one batched GEMM,
  the input gradient as the flipped-kernel correlation;
- :mod:`~emsm_np.gpu.max_pool2d`: 2x2 windows at stride 2 in one kernel each way;
- :mod:`~emsm_np.gpu.batch_norm`, :mod:`~emsm_np.gpu.relu`, :mod:`~emsm_np.gpu.prelu`:
  the reference's formulas as fused kernels;
- :mod:`~emsm_np.gpu.linear`: the backward, writing the parameters' gradients in place;
- :mod:`~emsm_np.gpu.margin_cross_entropy`: Eq. 4 for all weak classifiers at once;
- :mod:`~emsm_np.gpu.hsic`: the normalisation and the HSIC term of Eq. 6 in a few fused
  kernels, the pairs' sum in one (``sum_v <G_v, S - G_v>``);
- :mod:`~emsm_np.gpu.sgd`: the momentum SGD update of a parameter as one kernel;
- :mod:`~emsm_np.gpu.flat`: a model's parameters, gradients and velocities as views of
  flat buffers, and the update of all of them as one kernel.
"""
from . import batch_norm, conv2d, flat, fuse, hsic, linear, margin_cross_entropy, max_pool2d, prelu, relu, sgd

__all__ = ["fuse", "conv2d", "max_pool2d", "batch_norm", "relu", "prelu", "sgd", "flat", "margin_cross_entropy", "linear", "hsic"]
