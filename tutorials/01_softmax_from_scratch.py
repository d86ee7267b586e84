r"""
Softmax from scratch
====================

The softmax loss is the starting point of the paper (Wang et al., *Ensemble
Soft-Margin Softmax Loss for Image Classification*, IJCAI 2018, Sec. 2.1). It is
three pieces glued together:

1. the **last fully connected layer**, which turns a feature vector
   :math:`x \in \mathbb{R}^d` into one score (logit) per class,
   :math:`z = xW` with :math:`W \in \mathbb{R}^{d \times K}`;
2. the **softmax function**, which turns the logits into probabilities;
3. the **cross-entropy loss**, minus the log-probability of the true class.

In this tutorial we write each piece in a few lines of NumPy, derive the
famous gradient :math:`\partial L / \partial z = p - \mathrm{onehot}(y)` by
hand, check it against finite differences with :mod:`emsm_np.gradcheck`, and
finally confirm that emsm_np's EM-Softmax head reduces to exactly this loss
when it has one classifier, no margin and no diversity term
(:math:`V = 1`, :math:`m = 0`, :math:`\lambda = 0`).

Every later tutorial changes one piece of what is built here: tutorial 02
subtracts a margin from the target logit, 03 measures how different two
classifiers are, and 04 trains several classifiers at once.
"""

# %%
# Setup
# -----
#
# A batch is a matrix of **row** vectors, as everywhere in emsm_np: ``n``
# samples with ``d`` features, ``K`` classes. We work in float64 because the
# finite-difference checks below need it (see the docstring of
# :mod:`emsm_np.gradcheck`).

import numpy as np

from emsm_np import gradcheck
from emsm_np.functional.margin_cross_entropy import margin_cross_entropy_forward
from emsm_np.layers import Linear
from emsm_np.losses import EMSoftmax, em_softmax_loss

SMOOTH = 1e-7  # the relative-error bound for smooth operations (emsm_np.gradcheck.SMOOTH; see docs/contributing.md)

rng = np.random.default_rng(0)
n, d, K = 6, 5, 4
x = rng.standard_normal((n, d))
W = rng.standard_normal((d, K))
b = 0.1 * rng.standard_normal(K)
y = rng.integers(0, K, n)
print("x", x.shape, " W", W.shape, " b", b.shape, " y", y)

# %%
# The fully connected layer
# -------------------------
#
# The classifier is one weight vector :math:`w_k \in \mathbb{R}^d` per class,
# stored as the columns of :math:`W`. The logit of class :math:`k` for sample
# :math:`i` is the inner product :math:`z_{ik} = x_i \cdot w_k + b_k`, and for a
# whole batch
#
# .. math::
#
#    z = x W + \mathbf{1} b^\top \in \mathbb{R}^{n \times K}.
#
# emsm_np stores the weight as ``(in_features, out_features)``, the paper's
# layout; PyTorch stores the transpose. The :class:`emsm_np.layers.Linear`
# layer computes the same thing:


def fc_forward(x, W, b):
    return x @ W + b


z = fc_forward(x, W, b)

fc = Linear(d, K, dtype=np.float64)
fc.params["weight"][...] = W  # params are the very arrays the layer computes with
fc.params["bias"][...] = b
print("max |z - Linear(x)| =", np.abs(z - fc.forward(x)).max())
assert np.allclose(z, fc.forward(x), rtol=1e-14, atol=1e-14)

# %%
# The softmax function
# --------------------
#
# Softmax turns each row of logits into a probability vector:
#
# .. math::
#
#    p_{ik} = \frac{e^{z_{ik}}}{\sum_{j=1}^{K} e^{z_{ij}}} .
#
# Adding the same constant :math:`c` to every logit of a row multiplies
# numerator and denominator by :math:`e^{c}`, so it changes nothing. We use
# that freedom to subtract the row maximum before exponentiating: then the
# largest exponent is :math:`e^0 = 1` and nothing can overflow. The naive
# formula breaks as soon as a logit passes about 709 (the largest float64 is
# about :math:`e^{709.8}`):


def softmax_naive(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)  # same probabilities, no overflow
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


big = np.array([[1000.0, 999.0, 990.0]])
with np.errstate(over="ignore", invalid="ignore"):
    print("naive  :", softmax_naive(big))
print("stable :", softmax(big))
print("rows sum to one:", softmax(z).sum(axis=1))

# %%
# The cross-entropy loss
# ----------------------
#
# The loss of sample :math:`i` is minus the log-probability of its label
# :math:`y_i`, and the batch loss is the mean:
#
# .. math::
#
#    L = \frac{1}{n} \sum_{i=1}^{n} L_i, \qquad
#    L_i = -\log p_{i y_i} = \log \sum_{k} e^{z_{ik}} - z_{i y_i} .
#
# The right-hand form (log-sum-exp minus the target logit) is the one to
# compute: taking the log of a probability that underflowed to 0 would give
# :math:`-\infty`, while log-sum-exp with the row maximum pulled out is exact.


def cross_entropy(z, y):
    zmax = z.max(axis=1, keepdims=True)
    logsumexp = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    return np.mean(logsumexp - z[np.arange(len(y)), y])


def softmax_loss(x, W, b, y):
    return cross_entropy(fc_forward(x, W, b), y)


loss = softmax_loss(x, W, b, y)
print(f"loss = {loss:.6f}   (uniform guessing would give log K = {np.log(K):.6f})")

# %%
# The gradient, derived by hand
# -----------------------------
#
# Differentiate :math:`L_i = \log \sum_k e^{z_{ik}} - z_{iy_i}` with respect to
# one logit :math:`z_{ik}`. The derivative of the log-sum-exp is the softmax
# itself,
#
# .. math::
#
#    \frac{\partial}{\partial z_{ik}} \log \sum_j e^{z_{ij}}
#    = \frac{e^{z_{ik}}}{\sum_j e^{z_{ij}}} = p_{ik},
#
# and the target logit contributes :math:`-1` when :math:`k = y_i` and 0
# otherwise. With the one-hot matrix :math:`Y_{ik} = [k = y_i]` and the mean
# over the batch:
#
# .. math::
#
#    \frac{\partial L}{\partial z} = \frac{1}{n} \big( P - Y \big) .
#
# The fully connected layer passes this on by the matrix-product rule (if
# :math:`C = AB` then :math:`\bar A = \bar C B^\top` and
# :math:`\bar B = A^\top \bar C`); the bias is added to every row, so its
# gradient sums the rows:
#
# .. math::
#
#    \frac{\partial L}{\partial W} = x^\top \frac{\partial L}{\partial z}, \qquad
#    \frac{\partial L}{\partial b} = \mathbf{1}^\top \frac{\partial L}{\partial z}, \qquad
#    \frac{\partial L}{\partial x} = \frac{\partial L}{\partial z}\, W^\top .


def softmax_loss_backward(x, W, b, y):
    z = fc_forward(x, W, b)
    dz = softmax(z)
    dz[np.arange(len(y)), y] -= 1  # softmax minus one-hot at the target
    dz /= len(y)  # the loss is a mean over the batch
    return dz, x.T @ dz, dz.sum(axis=0), dz @ W.T


dz, dW, db, dx = softmax_loss_backward(x, W, b, y)

# %%
# Checking the gradient numerically
# ---------------------------------
#
# :func:`emsm_np.gradcheck.check_function` perturbs every entry of every input
# by :math:`\pm\epsilon` (:math:`\epsilon = 10^{-6}`), takes central
# differences of the loss, and returns the relative error
# ``max|a - n| / max(1e-8, max(|a| + |n|))`` between our analytic gradient
# ``a`` and the numerical one ``n``. A correct gradient gives about
# :math:`10^{-9}` or less in float64; a wrong one gives :math:`10^{-2}` or more.
#
# The inputs are perturbed in place, so the closure simply reads them.

errors = gradcheck.check_function(
    lambda: softmax_loss(x, W, b, y),
    {"x": x, "W": W, "b": b},
    {"x": dx, "W": dW, "b": db},
)
errors["z"] = gradcheck.check_function(lambda: cross_entropy(z, y), {"z": z}, {"z": dz})["z"]
for name, err in errors.items():
    print(f"relative error dL/d{name}: {err:.1e}")
assert max(errors.values()) < SMOOTH, errors

# %%
# What the gradient says
# ----------------------
#
# Three properties of :math:`(P - Y)/n` are worth seeing once, because the next
# tutorials modify exactly this quantity.
#
# * Each row sums to zero (the probabilities sum to one, the one-hot row too).
#   That is the shift invariance of softmax seen from the gradient: moving all
#   logits of a sample together is never rewarded.
# * The target entry :math:`p_{iy_i} - 1` is negative (raise the target logit)
#   and every other entry :math:`p_{ik}` is positive (lower the others).
# * A sample that is already classified with confidence, :math:`p_{iy_i}
#   \to 1`, contributes a gradient that goes to zero: softmax stops pushing as
#   soon as the target wins clearly. The soft margin of tutorial 02 changes
#   exactly this.

print("largest |row sum| of dL/dz:", np.abs(dz.sum(axis=1)).max())
rows = np.arange(n)
print("target entries   :", dz[rows, y])

confident = np.array([[8.0, 0.0, 0.0, 0.0]])  # class 0 wins by 8 logits
dz_conf = softmax(confident)
dz_conf[0, 0] -= 1
print("gradient of a confidently correct sample:", dz_conf.round(6))

# %%
# The same loss in emsm_np
# ------------------------
#
# emsm_np's loss head, :func:`emsm_np.losses.em_softmax_loss`, takes features
# ``x`` (n, d), a stack of ``V`` classifiers ``W`` (V, d, K) and labels ``y``.
# With one classifier, no margin and no diversity term it must be the loss we
# just wrote. The head has **no bias**: its logits are :math:`z = xW`, the form
# in which emsm_np writes the paper's equations, so we compare with
# :math:`b = 0`.
#
# It returns the loss and both gradients, :math:`\partial L/\partial x` and
# :math:`\partial L/\partial W`; they should agree with ours to rounding error.

b0 = np.zeros(K)
loss_ref = softmax_loss(x, W, b0, y)
_, dW_ref, _, dx_ref = softmax_loss_backward(x, W, b0, y)

loss_lib, dx_lib, dW_lib = em_softmax_loss(x, W[None], y, margin=0.0, lam=0.0)
print(f"loss: ours {loss_ref:.12f}  emsm_np {loss_lib:.12f}")
print(f"rel. difference dx: {gradcheck.rel_error(dx_lib, dx_ref):.1e}")
print(f"rel. difference dW: {gradcheck.rel_error(dW_lib[0], dW_ref):.1e}")
assert abs(loss_lib - loss_ref) < 1e-12
assert gradcheck.rel_error(dx_lib, dx_ref) < 1e-12
assert gradcheck.rel_error(dW_lib[0], dW_ref) < 1e-12

# %%
# The same head as a layer, :class:`emsm_np.losses.EMSoftmax`, owns its
# classifiers in ``params["weight"]`` and leaves the weight gradient in
# ``grads["weight"]`` after ``backward()``, the contract of every emsm_np
# layer. The stateless function underneath the cross-entropy,
# :func:`emsm_np.functional.margin_cross_entropy.margin_cross_entropy_forward`, with
# margin 0 is our ``cross_entropy`` on the logits.

head = EMSoftmax(d, K, ensemble=1, margin=0.0, lam=0.0, dtype=np.float64)
head.params["weight"][...] = W
loss_head = head.forward(x, y)
dx_head = head.backward()
ce_func, _ = margin_cross_entropy_forward(x @ W, y, margin=0.0)
print(f"EMSoftmax layer: {loss_head:.12f}   margin_cross_entropy_forward: {float(ce_func):.12f}")
assert abs(loss_head - loss_ref) < 1e-12 and abs(float(ce_func) - loss_ref) < 1e-12
assert gradcheck.rel_error(head.grads["weight"][0], dW_ref) < 1e-12
assert gradcheck.rel_error(dx_head, dx_ref) < 1e-12

# %%
# A bias is not lost by leaving it out: append a constant feature 1 to every
# sample and a row :math:`b^\top` to :math:`W`, and :math:`[x, 1]
# \begin{bmatrix} W \\ b^\top \end{bmatrix} = xW + \mathbf{1}b^\top`. A network
# whose last hidden layer can output a constant can learn the bias that way.

x1 = np.hstack([x, np.ones((n, 1))])
Wb = np.vstack([W, b])
loss_aug, _, _ = em_softmax_loss(x1, Wb[None], y)
print(f"with bias: {loss:.12f}   bias folded into W: {loss_aug:.12f}")
assert abs(loss_aug - loss) < 1e-12

# %%
# Summary
# -------
#
# * Softmax loss = fully connected layer + softmax + cross-entropy; compute it
#   as log-sum-exp minus the target logit, with the row maximum pulled out.
# * Its gradient with respect to the logits is :math:`(P - Y)/n`; the fully
#   connected layer turns it into :math:`x^\top (P - Y)/n` for the weights and
#   :math:`(P - Y) W^\top / n` for the features.
# * ``em_softmax_loss(x, W[None], y)`` with :math:`V = 1`, :math:`m = 0`,
#   :math:`\lambda = 0` is exactly this loss, without bias.
#
# Next, tutorial 02 subtracts a margin :math:`m` from the target logit before
# the softmax, and looks at what that does to the loss and to its gradient.
