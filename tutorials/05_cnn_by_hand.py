r"""
The CNN by hand
===============

Tutorials 01-04 derived the loss and its gradient with respect to the features
:math:`x`. Those features come from a convolutional network, and emsm_np has
no autograd: every layer's backward pass is derived on paper and written out.
This tutorial walks through the four operations that make up the paper's
networks, one at a time, in the order "derive, check numerically, then fuse":

* **convolution** as im2col followed by one matrix product (GEMM), checked
  against a naive loop;
* **batch normalisation**, whose train-mode backward couples every value of a
  channel;
* **max-pooling**, whose gradient is routed to the maximum of each window, and
  PyTorch's ``ceil_mode`` (the 7x7 map that becomes 4x4 in LiuNet);
* **PReLU**, the activation of emsm_np's LiuNets (the paper names no
  activation; PReLU is the L-Softmax paper's, as reported, and ReLU the L-Softmax
  prototxts': docs/paper.md).

Each backward pass is compared with central differences by
:mod:`emsm_np.gradcheck` in float64. The relative error is
:math:`\max|a-n| / \max(10^{-8}, |a|+|n|)`; we require it below
:math:`10^{-7}` for smooth operations and below :math:`10^{-5}` for operations
with kinks (max-pooling, PReLU), with inputs kept away from the kinks. At the
end the layers are stacked into a :class:`~emsm_np.layers.Sequential`, topped
with the EM-Softmax head, and the whole network is checked end to end.
"""

# %%
# Setup
# -----
#
# Gradient checks need float64 (see :mod:`emsm_np.gradcheck`: with a step of
# :math:`10^{-6}` a correct gradient shows errors around :math:`10^{-9}`, a
# wrong one :math:`10^{-2}` or more), so every array and layer below is float64.
# ``EMSM_FAST=1`` makes the shapes a little smaller.

import os

import matplotlib.pyplot as plt
import numpy as np

from emsm_np import gradcheck
from emsm_np.figures import show
from emsm_np.functional.batch_norm import batch_norm_backward, batch_norm_forward
from emsm_np.functional.conv2d import conv2d_backward, conv2d_forward
from emsm_np.functional.im2col import col2im, im2col, output_size
from emsm_np.functional.max_pool2d import max_pool2d_backward, max_pool2d_forward
from emsm_np.layers import (
    BatchNorm2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    PReLU,
    Sequential,
)
from emsm_np.losses import EMSoftmax
from emsm_np.models import Network

FAST = os.environ.get("EMSM_FAST") == "1"
SMOOTH = 1e-7  # relative-error bound for smooth operations (emsm_np.gradcheck.SMOOTH; see docs/contributing.md)
KINKED = 1e-5  # ... and for operations with kinks, inputs kept off the kinks
rng = np.random.default_rng(0)
np.set_printoptions(precision=3, suppress=True)


def report(what, errors, bound):
    """Print the relative errors of one check and assert they are below ``bound``."""
    print(f"{what:<38s}" + "  ".join(f"{k}: {v:.1e}" for k, v in errors.items()))
    assert max(errors.values()) < bound, (what, errors)


# %%
# im2col: every window as a column
# --------------------------------
#
# A convolution with a :math:`k_h \times k_w` kernel and stride :math:`s`
# reads, for output pixel :math:`(o_y, o_x)`, the (zero-padded) input at
# :math:`(o_y s + i,\ o_x s + j)` for the kernel offsets
# :math:`0 \le i < k_h,\ 0 \le j < k_w`. *im2col* copies each window into a
# column of a matrix. emsm_np builds it Chainer's way: fixing one offset
# :math:`(i, j)` and letting :math:`(o_y, o_x)` run is a single strided slice
# of the image, so the Python loop runs over the :math:`k_h k_w` offsets only,
# never over pixels. The result has shape ``(kh, kw, A, B, Ho, Wo)`` for an
# image ``(A, B, H, W)``.
#
# On a 4x4 image holding 0..15, a 3x3 kernel has 2x2 positions; reshaped to
# ``(kh*kw, Ho*Wo)``, column :math:`t` is the :math:`t`-th window, read row by
# row.

tiny = np.arange(16.0).reshape(1, 1, 4, 4)
print(tiny[0, 0])
Ho, Wo = output_size(4, 3, 1, 0), output_size(4, 3, 1, 0)
col = im2col(tiny, (3, 3), (1, 1), (0, 0), (Ho, Wo))
print("col shape", col.shape)
print(col.reshape(9, Ho * Wo))
assert np.array_equal(col.reshape(9, 4)[:, 0], tiny[0, 0, :3, :3].ravel())
assert np.array_equal(col.reshape(9, 4)[:, 3], tiny[0, 0, 1:, 1:].ravel())

# %%
# Convolution is then one matrix product
# --------------------------------------
#
# The forward rule (cross-correlation, as in every deep-learning library) is
#
# .. math::
#
#    \mathrm{out}[n, f, o_y, o_x] = b_f + \sum_{c, i, j}
#        w[f, c, i, j]\; x_{\text{pad}}[n, c, o_y s + i, o_x s + j].
#
# Lay the columns out as a matrix :math:`\mathrm{Col}` of shape
# :math:`(k_h k_w C) \times (N H_o W_o)`, rows ordered :math:`(i, j, c)`, and
# the filters as :math:`W_m` of shape :math:`F \times (k_h k_w C)` with the same
# row order: the whole layer is :math:`\mathrm{Out} = W_m \mathrm{Col} + b`.
# Passing the image to im2col as ``(C, N, H, W)`` (a transposed view) puts the
# channels before the batch, so the reshape needs no copy. Here is the GEMM
# written out by hand, next to :func:`~emsm_np.functional.conv2d.conv2d_forward`
# and a loop that reads the formula literally.

N, C, H, W, F = (2, 2, 5, 5, 3) if FAST else (2, 3, 7, 6, 4)
kh = kw = 3
stride, pad = 2, 1
x = rng.standard_normal((N, C, H, W))
w = rng.standard_normal((F, C, kh, kw))
b = rng.standard_normal(F)

Ho, Wo = output_size(H, kh, stride, pad), output_size(W, kw, stride, pad)
Col = im2col(x.transpose(1, 0, 2, 3), (kh, kw), (stride, stride), (pad, pad), (Ho, Wo))
Col = Col.reshape(kh * kw * C, N * Ho * Wo)
W_m = w.transpose(0, 2, 3, 1).reshape(F, kh * kw * C)  # rows (i, j, c), like Col
out_gemm = (W_m @ Col + b[:, None]).reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3)


def conv2d_loop(x, w, b, stride, pad):
    """The forward rule, one output value at a time (the test oracle)."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    out = np.empty((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for oy in range(Ho):
                for ox in range(Wo):
                    window = xpad[n, :, oy * stride : oy * stride + kh, ox * stride : ox * stride + kw]
                    out[n, f, oy, ox] = b[f] + np.sum(w[f] * window)
    return out


out_loop = conv2d_loop(x, w, b, stride, pad)
out_lib, conv_cache = conv2d_forward(x, w, b, stride, pad)
print("output shape", out_lib.shape)
print("GEMM vs loop:    ", gradcheck.rel_error(out_gemm, out_loop))
print("library vs loop: ", gradcheck.rel_error(out_lib, out_loop))
assert gradcheck.rel_error(out_gemm, out_loop) < 1e-12
assert gradcheck.rel_error(out_lib, out_loop) < 1e-12

# %%
# The convolution's backward pass
# -------------------------------
#
# :math:`\mathrm{Out} = W_m \mathrm{Col} + b` is linear in both factors, so with
# :math:`G = \partial L / \partial \mathrm{Out}` (an :math:`F \times N H_o W_o`
# matrix) the gradients are the two other products:
#
# .. math::
#
#    \frac{\partial L}{\partial W_m} = G\,\mathrm{Col}^\top, \qquad
#    \frac{\partial L}{\partial \mathrm{Col}} = W_m^\top G, \qquad
#    \frac{\partial L}{\partial b_f} = \sum_{n, o_y, o_x} G[f, (n, o_y, o_x)].
#
# The gradient with respect to :math:`x` undoes im2col: every input pixel
# collects the entries of :math:`\partial L / \partial \mathrm{Col}` that were
# copied from it (overlapping windows add up, padding is dropped). That map is
# :func:`~emsm_np.functional.im2col.col2im`, the *adjoint* of im2col:
# :math:`\langle \mathrm{im2col}(x), c\rangle = \langle x, \mathrm{col2im}(c)\rangle`
# for every :math:`x` and :math:`c`. This is exactly what the reference route
# :func:`emsm_np.functional.conv2d.conv2d_backward` computes. (On the CPU the
# layers take a faster route with the same numbers: the input gradient as a
# convolution of the spread-out :math:`G` with the flipped kernel; the docs'
# "fast CPU routes" page derives it.)

c = rng.standard_normal((kh, kw, N, C, Ho, Wo))
lhs = np.sum(im2col(x, (kh, kw), (stride, stride), (pad, pad), (Ho, Wo)) * c)
rhs = np.sum(x * col2im(c, x.shape, (stride, stride), (pad, pad)))
print(f"<im2col(x), c> = {lhs:.12f}\n<x, col2im(c)> = {rhs:.12f}")
assert abs(lhs - rhs) < 1e-10 * abs(lhs)

# dL/dx by the route of the derivation: W_m^T G, then col2im.
dout = rng.standard_normal(out_lib.shape)
G = dout.transpose(1, 0, 2, 3).reshape(F, N * Ho * Wo)
dCol = (W_m.T @ G).reshape(kh, kw, C, N, Ho, Wo)
dx_route = col2im(dCol, (C, N, H, W), (stride, stride), (pad, pad)).transpose(1, 0, 2, 3)
dx, dw, db = conv2d_backward(dout, conv_cache)
print("library dx vs W_m^T G + col2im:", gradcheck.rel_error(dx, dx_route))
assert gradcheck.rel_error(dx, dx_route) < 1e-12

# %%
# Now the check that matters: the hand-derived gradients against central
# differences of :math:`\sum \mathrm{out} \odot \mathrm{dout}` (a
# vector-Jacobian product with a random upstream gradient), for the input and
# both parameters.
# :func:`~emsm_np.gradcheck.check_function` perturbs each entry in place and
# restores it.

errors = gradcheck.check_function(
    lambda: conv2d_forward(x, w, b, stride, pad)[0],
    inputs={"x": x, "weight": w, "bias": b},
    grads={"x": dx, "weight": dw, "bias": db},
    dout=dout,
)
report("conv2d (stride 2, padding 1)", errors, SMOOTH)

# %%
# Batch normalisation
# -------------------
#
# In train mode, batch norm normalises each channel with the statistics of the
# current batch. With :math:`m` values :math:`x_1, \dots, x_m` per channel
# (over the batch and the pixels):
#
# .. math::
#
#    \mu = \frac1m \sum_i x_i, \quad
#    \sigma^2 = \frac1m \sum_i (x_i - \mu)^2, \quad
#    \hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad
#    y_i = \gamma \hat x_i + \beta .
#
# The parameter gradients are immediate: :math:`\partial L/\partial\beta =
# \sum_i g_i` and :math:`\partial L/\partial\gamma = \sum_i g_i \hat x_i`, with
# :math:`g_i = \partial L / \partial y_i`. The input gradient is where the work
# is, because :math:`\mu` and :math:`\sigma^2` depend on every :math:`x_j`.
# Write :math:`s = (\sigma^2+\epsilon)^{-1/2}`. From
# :math:`\partial\mu/\partial x_j = 1/m` and
# :math:`\partial \sigma^2/\partial x_j = 2(x_j - \mu)/m`,
#
# .. math::
#
#    \frac{\partial \hat x_i}{\partial x_j}
#    = s\Big(\delta_{ij} - \frac1m\Big) - (x_i - \mu)\, \frac{s^3}{2}\, \frac{2 (x_j - \mu)}{m}
#    = s\Big(\delta_{ij} - \frac1m - \frac{\hat x_i \hat x_j}{m}\Big),
#
# and summing against :math:`\partial L/\partial \hat x_i = \gamma g_i`,
#
# .. math::
#
#    \frac{\partial L}{\partial x_j}
#    = \frac{\gamma s}{m}\Big(m\, g_j - \sum_i g_i - \hat x_j \sum_i g_i \hat x_i\Big).
#
# Differentiating through the statistics removes from :math:`g` its mean and
# its component along :math:`\hat x`, the two directions in which the output
# cannot move. The closed form reuses the two sums already computed for
# :math:`\beta` and :math:`\gamma`. Here it is next to the staged version,
# which backpropagates through :math:`\mu` and :math:`\sigma^2` one step at a
# time (CS231n style), and the library's
# :func:`~emsm_np.functional.batch_norm.batch_norm_backward`.

x = rng.standard_normal((4, 3, 3, 3)) * 2.0 + 1.0
gamma = rng.standard_normal(3)
beta = rng.standard_normal(3)
running_mean, running_var = np.zeros(3), np.ones(3)
eps_bn = 1e-5

out, bn_cache, running = batch_norm_forward(x, gamma, beta, running_mean, running_var,
                                            train=True, eps=eps_bn)
dout = rng.standard_normal(out.shape)
dx, dgamma, dbeta = batch_norm_backward(dout, bn_cache)

# The staged derivation, for one (N, C, H, W) batch: statistics over axes 0, 2, 3.
axes, m = (0, 2, 3), x.size // x.shape[1]
shape = (1, -1, 1, 1)
mu = x.mean(axis=axes, keepdims=True)
var = x.var(axis=axes, keepdims=True)
s = 1.0 / np.sqrt(var + eps_bn)
x_hat = (x - mu) * s
dx_hat = dout * gamma.reshape(shape)
dvar = np.sum(dx_hat * (x - mu), axis=axes, keepdims=True) * -0.5 * s**3
dmu = -np.sum(dx_hat * s, axis=axes, keepdims=True) - dvar * 2.0 * np.mean(x - mu, axis=axes, keepdims=True)
dx_staged = dx_hat * s + dvar * 2.0 * (x - mu) / m + dmu / m
print("closed form vs staged:", gradcheck.rel_error(dx, dx_staged))
assert gradcheck.rel_error(dx, dx_staged) < 1e-12

errors = gradcheck.check_function(
    lambda: batch_norm_forward(x, gamma, beta, running_mean, running_var, train=True, eps=eps_bn)[0],
    inputs={"x": x, "gamma": gamma, "beta": beta},
    grads={"x": dx, "gamma": dgamma, "beta": dbeta},
    dout=dout,
)
report("batch_norm (train mode)", errors, SMOOTH)

# %%
# The forward *returns* the new running statistics (PyTorch's update, with the
# unbiased variance) instead of writing into its arguments; the layer
# :class:`~emsm_np.layers.BatchNorm2d` copies them into its ``buffers``. In eval
# mode the running statistics are constants and the layer is an affine map per
# channel, :math:`\partial L/\partial x = \gamma g / \sqrt{\sigma^2_{\text{run}}
# + \epsilon}`. :func:`~emsm_np.gradcheck.check_layer` checks a layer's input
# and every parameter in one call (restoring the running statistics between
# the forward passes it makes).

print("running mean after one batch:", running.mean)
bn = BatchNorm2d(3, dtype=np.float64)
bn.params["weight"][...] = gamma
bn.params["bias"][...] = beta
report("BatchNorm2d layer, train mode", gradcheck.check_layer(bn, x, train=True), SMOOTH)
report("BatchNorm2d layer, eval mode", gradcheck.check_layer(bn, x, train=False), SMOOTH)

# %%
# Max-pooling: the gradient goes to the winner
# --------------------------------------------
#
# :math:`\mathrm{out} = \max_{i,j} x_{\text{pad}}[o_y s + i, o_x s + j]`. Near a
# point where one element is strictly the largest of its window, the max *is*
# that element, so its derivative is 1 for the winner and 0 for the others:
# the upstream gradient of each window is routed to its maximum, and an element
# that wins several overlapping windows collects the sum. (At ties the max has
# no derivative; emsm_np gives it to the first maximum, as PyTorch does.)
#
# The forward pass reuses im2col (padding with :math:`-\infty`, so padding
# never wins), takes the max over the offsets and keeps a boolean mask of the
# winners; the backward pass multiplies the upstream gradient by the mask and
# sums it back with col2im.
#
# **Ceil mode.** LiuNet pools its 7x7 MNIST feature map with kernel 2 and
# stride 2 in ``ceil_mode``: the output size is rounded up, to 4x4 instead of
# 3x3, and the last window hangs past the image, where it reads
# :math:`-\infty` and so covers just the last row or column.

print("7x7, kernel 2, stride 2, floor:", output_size(7, 2, 2, 0, ceil_mode=False))
print("7x7, kernel 2, stride 2, ceil: ", output_size(7, 2, 2, 0, ceil_mode=True))

img = rng.permutation(49).reshape(1, 1, 7, 7).astype(np.float64)
pool = MaxPool2d(2, 2, ceil_mode=True)
pooled = pool.forward(img)
routed = pool.backward(np.ones_like(pooled))
print("pooled:\n", pooled[0, 0])
print("gradient of sum(pooled) with respect to the image:\n", routed[0, 0])
assert pooled.shape == (1, 1, 4, 4)
assert routed.sum() == 16  # one unit of gradient per window, all delivered

fig, axs = plt.subplots(1, 3, figsize=(10, 3.9))
for ax, a, title in zip(axs, (img, pooled, routed),
                        ("input 7x7", "max-pooled 4x4 (ceil mode)", "gradient of sum(output)")):
    ax.imshow(a[0, 0], cmap="viridis")
    bright = a[0, 0].min() + 0.6 * np.ptp(a[0, 0])  # dark text on the bright cells
    for (r, c_), v in np.ndenumerate(a[0, 0]):
        ax.text(c_, r, f"{v:.0f}", ha="center", va="center", color="k" if v > bright else "w", fontsize=8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
for k in range(1, 4):  # the window borders of the 2x2 pooling
    for ax in (axs[0], axs[2]):
        ax.axhline(2 * k - 0.5, color="w", lw=1.5)
        ax.axvline(2 * k - 0.5, color="w", lw=1.5)
fig.tight_layout()
show(fig, "05_cnn")

# %%
# A loop over windows is the oracle for the forward pass. For the gradient
# check the inputs must stay off the kinks: a central difference with step
# :math:`\epsilon = 10^{-6}` that swaps the winner of a window measures a
# mixture of two derivatives. We therefore draw the input as a random
# permutation of well-separated values (spacing 0.01, far more than
# :math:`\epsilon`), and use overlapping windows (kernel 3, stride 2,
# padding 1, ceil mode) so that some elements win two windows.


def max_pool_loop(x, k, s, p, ceil_mode):
    """The forward rule, one window at a time."""
    N, C, H, W = x.shape
    Ho, Wo = output_size(H, k, s, p, ceil_mode), output_size(W, k, s, p, ceil_mode)
    big = max((Ho - 1) * s + k, H + 2 * p)  # room for a ceil-mode window past the edge
    xpad = np.full((N, C, big, max((Wo - 1) * s + k, W + 2 * p)), -np.inf)
    xpad[:, :, p : p + H, p : p + W] = x
    out = np.empty((N, C, Ho, Wo))
    for oy in range(Ho):
        for ox in range(Wo):
            out[:, :, oy, ox] = xpad[:, :, oy * s : oy * s + k, ox * s : ox * s + k].max(axis=(2, 3))
    return out


shape = (2, 2, 6, 6) if FAST else (2, 3, 7, 7)
x = 0.01 * rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64)
out, pool_cache = max_pool2d_forward(x, 3, 2, 1, ceil_mode=True)
assert np.array_equal(out, max_pool_loop(x, 3, 2, 1, ceil_mode=True))
dout = rng.standard_normal(out.shape)
errors = gradcheck.check_function(
    lambda: max_pool2d_forward(x, 3, 2, 1, ceil_mode=True)[0],
    inputs={"x": x},
    grads={"x": max_pool2d_backward(dout, pool_cache)},
    dout=dout,
)
report("max_pool2d (k3, s2, p1, ceil)", errors, KINKED)

# %%
# PReLU
# -----
#
# The parametric ReLU (He et al., 2015) has a learned slope :math:`a` for
# negative inputs, one per channel in emsm_np's LiuNets:
#
# .. math::
#
#    y = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases}, \qquad
#    \frac{\partial L}{\partial x} = g \cdot \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}, \qquad
#    \frac{\partial L}{\partial a_c} = \sum_{\text{positions of channel } c,\ x \le 0} g\, x .
#
# The slope's gradient sums over every position that uses it: the batch and
# the pixels of its channel, or everything for a single shared slope. The kink
# is at :math:`x = 0`, so the check draws :math:`|x| \ge 0.1`.

x = rng.uniform(0.1, 2.0, (3, 4, 3, 3)) * rng.choice([-1.0, 1.0], (3, 4, 3, 3))
per_channel = PReLU(4, init=0.25, dtype=np.float64)
shared = PReLU(1, init=0.1, dtype=np.float64)
report("PReLU, one slope per channel", gradcheck.check_layer(per_channel, x), KINKED)
report("PReLU, one shared slope", gradcheck.check_layer(shared, x), KINKED)

# %%
# Fusing the pieces: a small network, checked end to end
# ------------------------------------------------------
#
# Each layer follows the same contract: ``forward(x, train)`` keeps what the
# backward pass needs, ``backward(dy)`` fills ``grads`` (same keys as
# ``params``) and returns :math:`\partial L/\partial x`.
# :class:`~emsm_np.layers.Sequential` runs the layers forward, then backward in
# reverse order: that loop *is* the chain rule. Its ``params`` and ``grads``
# are flat dicts keyed ``"<i>.<name>"`` over the layers' own arrays, so the
# gradient check can perturb every parameter of the stack in place.
#
# Here is a miniature of LiuNet's block on a 7x7 map: conv 3x3 - batch norm -
# PReLU - max-pool 2 in ceil mode (7x7 to 4x4) - flatten - a linear feature
# layer. It mixes smooth and kinked operations, so the bound is the kinked
# one; with random inputs the chance that a perturbation of
# :math:`10^{-6}` flips a PReLU sign or a max-pool winner is negligible.
#
# The convolution has no bias, as in LiuNet: batch norm subtracts each
# channel's mean, so a bias added just before it cancels out and its gradient
# is exactly zero. (A relative error of a gradient that is zero only measures
# round-off against the :math:`10^{-8}` floor of the denominator, so a check
# of it would fail for no fault of the backward pass.) Quickly, to see it:

conv_with_bias = Sequential(Conv2d(1, 2, 3, padding=1, dtype=np.float64, rng=0),
                            BatchNorm2d(2, dtype=np.float64))
x = rng.standard_normal((4, 1, 7, 7))
conv_with_bias.backward(rng.standard_normal(conv_with_bias.forward(x).shape))
print("conv bias gradient under batch norm:", conv_with_bias.grads["0.bias"])
assert np.abs(conv_with_bias.grads["0.bias"]).max() < 1e-12

C_out, d = (2, 4) if FAST else (3, 6)
net = Sequential(
    Conv2d(1, C_out, 3, padding=1, bias=False, dtype=np.float64, rng=1),
    BatchNorm2d(C_out, dtype=np.float64),
    PReLU(C_out, dtype=np.float64),
    MaxPool2d(2, 2, ceil_mode=True),
    Flatten(),
    Linear(C_out * 4 * 4, d, dtype=np.float64, rng=2),
)
print(net)
print("features:", net.forward(x).shape)
report("Sequential, end to end", gradcheck.check_layer(net, x), KINKED)

# %%
# Finally the whole model of this package: the stack above as the feature
# extractor and the EM-Softmax head of tutorial 04 on top
# (:class:`~emsm_np.models.Network`, :math:`V = 2`, margin 0.3,
# :math:`\lambda = 0.1`). The loss is a scalar, so the check differentiates it
# directly: ``net.loss(x, y)`` runs the forward pass, ``net.backward()`` fills
# ``net.grads`` for every parameter of every layer, from the head's ``(V, d, K)``
# weights down to the first convolution.

model = Network(net, EMSoftmax(d, 5, ensemble=2, margin=0.3, lam=0.1, dtype=np.float64, rng=3))
y = rng.integers(0, 5, len(x))
loss = model.loss(x, y)
model.backward()
analytic = {k: g.copy() for k, g in model.grads.items()}
errors = gradcheck.check_function(lambda: model.loss(x, y), model.params, analytic)
print(f"loss {loss:.4f}, {model.num_parameters()} parameters in {len(errors)} arrays")
for k, e in errors.items():
    print(f"  {k:<22s} {e:.1e}")
assert max(errors.values()) < KINKED
print("every gradient of the network matches its finite differences")

# %%
# What next
# ---------
#
# :func:`emsm_np.models.build_network` assembles exactly these layers into the
# LiuNets the paper follows (see "the paper, precisely") and a small
# LeNet-style CNN; tutorial 06 trains one on
# MNIST with Softmax and with EM-Softmax, and tutorial 07 runs the same code on
# a GPU.
