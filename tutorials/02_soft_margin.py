r"""
The soft margin (M-Softmax)
===========================

Softmax is satisfied as soon as the target logit wins, even by a hair
(tutorial 01). The paper's first change (Eqs. 3-4) asks for more: during
training a constant :math:`m \ge 0` is subtracted from the target logit before
the softmax, so a sample only counts as well classified once its target logit
beats every other logit by about :math:`m`. The paper calls the result the
soft-margin softmax, M-Softmax.

In this tutorial we

* write Eqs. 3-4 and compare them with :mod:`emsm_np.functional.margin_cross_entropy`;
* plot the loss and its gradient as a function of how far the target logit
  leads, for a few margins;
* derive the gradient (it keeps the form :math:`\tilde p - \mathrm{onehot}(y)`)
  and check it numerically, with respect to the logits, the features and the
  weights;
* train a linear classifier on 2-D toy data with several margins and look at
  what changes (and what does not);
* compare the additive, "soft" margin with the multiplicative angular margin
  :math:`\cos(m\theta)` of L-Softmax.
"""

# %%
# Setup
# -----
#
# ``EMSM_FAST=1`` shortens the training loop (the tests and the documentation
# build set it); the numbers change a little, the conclusions do not.

import os

import matplotlib.pyplot as plt
import numpy as np

from emsm_np import gradcheck
from emsm_np.figures import show
from emsm_np.functional.margin_cross_entropy import (
    margin_cross_entropy_backward,
    margin_cross_entropy_forward,
)
from emsm_np.losses import EMSoftmax, em_softmax_loss
from emsm_np.optim import SGD

FAST = os.environ.get("EMSM_FAST") == "1"
SMOOTH = 1e-7  # relative-error bound for smooth operations (emsm_np.gradcheck.SMOOTH; see docs/contributing.md)
rng = np.random.default_rng(0)

# %%
# Eqs. 3-4: subtract the margin from the target logit
# ---------------------------------------------------
#
# Eq. 3 asks the target logit to win by a margin,
# :math:`w_1^\top x \ge w_1^\top x - m > w_2^\top x`, and the paper uses
# :math:`w_1^\top x - m` in place of :math:`w_1^\top x` during training. With
# logits :math:`z_i = x_i W` and label :math:`y_i`, the soft-margin softmax (defined
# in the text between Eqs. 3 and 4) therefore lowers the target logit by
# :math:`m` before normalising:
#
# .. math::
#
#    \tilde p_{i y_i} = \frac{e^{z_{i y_i} - m}}{e^{z_{i y_i} - m} + \sum_{k \ne y_i} e^{z_{ik}}},
#
# and the loss (Eq. 4) is the cross-entropy of these probabilities. The paper
# writes it for one sample; emsm_np averages it over the batch (mean or sum, the
# paper does not say). Written with :math:`\tilde z = z - mY` (:math:`Y` the one-hot
# matrix of the labels) it is the ordinary softmax loss of the shifted logits:
#
# .. math::
#
#    L = \frac{1}{n} \sum_i \Big( \log \sum_k e^{\tilde z_{ik}} - \tilde z_{i y_i} \Big),
#    \qquad \tilde z_{ik} = z_{ik} - m\,[k = y_i] .
#
# The margin is a training-time device only: at test time the classifier
# predicts :math:`\arg\max_k z_{ik}`, without margin.


def cross_entropy(z, y):
    zmax = z.max(axis=1, keepdims=True)
    logsumexp = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    return np.mean(logsumexp - z[np.arange(len(y)), y])


def margin_cross_entropy(z, y, m):
    zt = z.copy()
    zt[np.arange(len(y)), y] -= m  # Eq. 4: the margin only on the target logit
    return cross_entropy(zt, y)


n, K = 7, 5
z = rng.standard_normal((n, K))
y = rng.integers(0, K, n)
for m in (0.0, 0.5, 1.0, 2.0):
    ours = margin_cross_entropy(z, y, m)
    lib, _ = margin_cross_entropy_forward(z, y, m)
    print(f"m = {m:3.1f}: ours {ours:.12f}   emsm_np {float(lib):.12f}")
    assert abs(ours - float(lib)) < 1e-12

# %%
# The loss grows with :math:`m` for every sample: lowering the target logit
# lowers the target probability. With :math:`m = 0` this is tutorial 01's loss.
#
# The loss as a function of the lead of the target
# ------------------------------------------------
#
# Call :math:`\delta = z_y - \max_{k \ne y} z_k` the lead of the target logit
# (the sample is classified correctly when :math:`\delta > 0`). Take a sample
# whose non-target logits are all equal; then
#
# .. math::
#
#    L(\delta) = \log\big(1 + (K-1)\, e^{-(\delta - m)}\big), \qquad
#    -\frac{\partial L}{\partial z_y} = 1 - \tilde p_y
#    = \frac{(K-1)\, e^{-(\delta - m)}}{1 + (K-1)\, e^{-(\delta - m)}} .
#
# Both are functions of :math:`\delta - m`: the margin **shifts the curves to
# the right by m**. A sample that leads by exactly :math:`m` under M-Softmax is
# treated like a sample sitting on the decision boundary under softmax, and the
# gradient keeps pulling it until it leads by several units more than
# :math:`m`. We compute the curves with emsm_np's forward and backward on a
# batch of such samples.

K2 = 3
deltas = np.linspace(-4.0, 8.0, 241)
Z = np.zeros((deltas.size, K2))
Z[:, 0] = deltas  # the target logit leads the other two (both 0) by delta
Y0 = np.zeros(deltas.size, dtype=int)
margins = (0.0, 0.5, 1.0, 2.0)

fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(10, 3.8))
for m in margins:
    zt = Z.copy()
    zt[:, 0] -= m
    loss_per_sample = np.logaddexp.reduce(zt, axis=1) - zt[:, 0]
    _, cache = margin_cross_entropy_forward(Z, Y0, m)
    pull = -margin_cross_entropy_backward(1.0, cache)[:, 0] * deltas.size  # 1 - p~_y
    closed_form = (K2 - 1) * np.exp(m - deltas) / (1 + (K2 - 1) * np.exp(m - deltas))
    assert np.allclose(pull, closed_form, rtol=1e-10, atol=1e-12)
    ax_loss.plot(deltas, loss_per_sample, label=f"m = {m}")
    ax_grad.plot(deltas, pull, label=f"m = {m}")
ax_loss.set(xlabel=r"lead of the target logit $\delta = z_y - \max_{k\neq y} z_k$",
            ylabel="loss of the sample", title="Eq. 4: the loss, shifted right by m")
ax_grad.set(xlabel=r"$\delta$", ylabel=r"$-\partial L / \partial z_y = 1 - \tilde p_y$",
            title="the pull on the target logit")
for ax in (ax_loss, ax_grad):
    ax.axvline(0.0, color="0.6", lw=0.8)
    ax.legend()
fig.tight_layout()
show(fig, "02_margin_loss_and_gradient")

# %%
# The gradient
# ------------
#
# The margin is a constant: :math:`\tilde z = z - mY` has
# :math:`\partial \tilde z / \partial z = I`. So the gradient of Eq. 4 is
# tutorial 01's gradient evaluated at the shifted logits,
#
# .. math::
#
#    \frac{\partial L}{\partial z} = \frac{1}{n}\big(\tilde P - Y\big), \qquad
#    \tilde P = \mathrm{softmax}(z - mY) \ \text{row by row},
#
# and through :math:`z = xW` (Eq. 9 with a single classifier):
#
# .. math::
#
#    \frac{\partial L}{\partial W} = \frac{1}{n} x^\top (\tilde P - Y), \qquad
#    \frac{\partial L}{\partial x} = \frac{1}{n} (\tilde P - Y) W^\top .
#
# The backward pass does not change at all; only the probabilities it is built
# from do. That is what makes the margin cheap: one subtraction in the forward
# pass. The effect on a correctly classified sample is a larger pull. Here is
# one that leads by 2:

z_good = np.array([[2.0, 0.0, 0.0]])
for m in margins:
    _, cache = margin_cross_entropy_forward(z_good, np.array([0]), m)
    print(f"m = {m}: dL/dz = {margin_cross_entropy_backward(1.0, cache).round(4)}")

# %%
# The gradient check, first with respect to the logits
# (:func:`~emsm_np.functional.margin_cross_entropy.margin_cross_entropy_backward`),
# then with respect to the features and the weights of a single classifier
# through :func:`emsm_np.losses.em_softmax_loss` (:math:`V = 1`,
# :math:`\lambda = 0`, margin :math:`m > 0`: the M-Softmax loss).

m = 0.7
loss, cache = margin_cross_entropy_forward(z, y, m)
dz = margin_cross_entropy_backward(1.0, cache)
err_z = gradcheck.check_function(lambda: margin_cross_entropy_forward(z, y, m)[0], {"z": z}, {"z": dz})

d = 4
x = rng.standard_normal((n, d))
W = rng.standard_normal((1, d, K))
_, dx, dW = em_softmax_loss(x, W, y, margin=m)
err_xW = gradcheck.check_function(
    lambda: em_softmax_loss(x, W, y, margin=m)[0], {"x": x, "W": W}, {"x": dx, "W": dW}
)
errors = {**err_z, **err_xW}
for name, err in errors.items():
    print(f"Eq. 4, m = {m}: relative error dL/d{name} = {err:.1e}")
assert max(errors.values()) < SMOOTH, errors

# %%
# Training with a margin on 2-D toy data
# --------------------------------------
#
# Three Gaussian blobs around the origin, and a bias-free linear classifier
# :math:`W \in \mathbb{R}^{2 \times 3}` trained with the
# :class:`~emsm_np.losses.EMSoftmax` head (one classifier) and momentum SGD
# with weight decay, once per margin. The features are fixed here; only
# :math:`W` learns. (The weight decay, :math:`5 \times 10^{-3}`, is ten times
# the paper's, so that the weights settle within a few hundred steps.)

n_per = 100
angles = np.deg2rad([90.0, 210.0, 330.0])
centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
X = np.concatenate([c + 0.9 * rng.standard_normal((n_per, 2)) for c in centres])
labels = np.repeat(np.arange(3), n_per)
steps = 150 if FAST else 500


def train(margin):
    head = EMSoftmax(2, 3, ensemble=1, margin=margin, dtype=np.float64, rng=1)
    opt = SGD(head.params, head.grads, lr=0.1, momentum=0.9, weight_decay=5e-3)
    for _ in range(steps):
        head.forward(X, labels)
        head.backward()
        opt.step()
    return head


def lead(Wm, X, labels):
    """delta_i = z_{i y_i} - max_{k != y_i} z_ik for the classifier Wm (d, K)."""
    zz = X @ Wm
    rows = np.arange(len(labels))
    target = zz[rows, labels]
    zz[rows, labels] = -np.inf
    return target - zz.max(axis=1)


heads = {m: train(m) for m in margins}
print(" m   | column norms ||w_k||   | train acc | leads > m | band width m/min||w_y-w_k||")
for m, head in heads.items():
    Wm = head.params["weight"][0]
    gaps = lead(Wm, X, labels)
    pair = min(np.linalg.norm(Wm[:, a] - Wm[:, b]) for a in range(3) for b in range(a + 1, 3))
    acc = np.mean(head.predict(X) == labels)
    print(f" {m:3.1f} | {np.array2string(np.linalg.norm(Wm, axis=0), precision=2):22s} | "
          f"{acc:9.3f} | {np.mean(gaps > m):9.3f} | {m / pair:.3f}")

# %%
# Each panel shows the decision regions of the trained classifier (what it
# predicts at test time, without margin) and, dashed, the curves
# :math:`z_y - \max_{k\ne y} z_k = m` of each class :math:`y`: inside them a
# sample of class :math:`y` leads by more than :math:`m`; in the band between a
# dashed curve and the decision boundary it is classified correctly but the
# margin loss still pushes hard on it.

grid = np.linspace(-5, 5, 201)
G1, G2 = np.meshgrid(grid, grid)
P = np.stack([G1.ravel(), G2.ravel()], axis=1)
colors = ["tab:blue", "tab:orange", "tab:green"]

fig, axes = plt.subplots(1, len(margins), figsize=(3.2 * len(margins), 3.6), sharey=True,
                         layout="constrained")
for ax, (m, head) in zip(axes, heads.items()):
    Wm = head.params["weight"][0]
    region = head.predict(P).reshape(G1.shape)
    ax.contourf(G1, G2, region, levels=[-0.5, 0.5, 1.5, 2.5], colors=colors, alpha=0.15)
    ax.contour(G1, G2, region, levels=[0.5, 1.5], colors="k", linewidths=0.8)
    for k in range(3):
        gap_k = lead(Wm, P, np.full(len(P), k)).reshape(G1.shape)
        if m > 0:
            ax.contour(G1, G2, gap_k, levels=[m], colors=colors[k], linestyles="--", linewidths=1.2)
    ax.scatter(X[:, 0], X[:, 1], c=[colors[k] for k in labels], s=5)
    ax.set(title=f"m = {m}", xlim=(-5, 5), ylim=(-5, 5), aspect="equal")
fig.suptitle("decision regions (solid) and margin curves (dashed) after training")
show(fig, "02_decision_boundaries")

# %%
# What changed? Mostly the **norms** of the class vectors, which grow with
# :math:`m`; the decision boundaries barely move (the blobs are symmetric, so
# by symmetry they stay near the bisectors). That is the honest lesson of this
# toy problem: with fixed features, the cheapest way for a linear classifier to
# make its logit leads larger by :math:`m` is to scale :math:`W` up, and only
# the weight decay keeps it from doing so entirely. The band where the margin
# still acts has a width of :math:`m / \lVert w_y - w_k \rVert` in feature
# space, and it does widen with :math:`m` here, because the weight decay makes
# large norms expensive.
#
# In a network the features :math:`x` move too: the feature gradient
# :math:`(\tilde P - Y) W^\top / n` keeps pushing samples away from the
# boundaries until they lead by more than :math:`m`, which is the
# discriminative effect the paper is after. Tutorials 05-06 train such a
# network.
#
# Why the margin is "soft": a comparison with L-Softmax
# ------------------------------------------------------
#
# Write a logit as :math:`z_k = \lVert w_k \rVert \lVert x \rVert \cos\theta_k`,
# with :math:`\theta_k` the angle between the feature and the class vector.
# L-Softmax (Liu et al., ICML 2016) puts its margin inside the angle: the target
# logit becomes :math:`\lVert w_y \rVert \lVert x \rVert\, \psi(\theta_y)`, with an
# integer :math:`m` and
#
# .. math::
#
#    \psi(\theta) = (-1)^j \cos(m\theta) - 2j, \qquad
#    \theta \in \Big[\frac{j\pi}{m}, \frac{(j+1)\pi}{m}\Big],\ j = 0, \dots, m-1,
#
# a piecewise function built to stay decreasing on :math:`[0, \pi]`. M-Softmax
# subtracts a constant instead:
# :math:`\lVert w_y \rVert \lVert x \rVert \cos\theta_y - m`.
#
# * L-Softmax's margin is **multiplicative**: the required lead scales with
#   :math:`\lVert w_y \rVert \lVert x \rVert`, :math:`m` must be an integer, and
#   the backward pass differentiates :math:`\cos(m\theta)` through the norms and
#   the angle (a polynomial in :math:`\cos\theta`), with a piecewise definition.
# * The soft margin is **additive** in logit units: any real :math:`m \ge 0`
#   works, the loss stays smooth, and the backward pass is the softmax one.
#
# Divided by :math:`s = \lVert w_y\rVert \lVert x \rVert`, the soft-margin target
# logit is :math:`\cos\theta_y - m/s`: the same margin is a large angular
# margin when the norms are small and fades as they grow, which is the effect
# we saw in the toy problem.

theta = np.linspace(0.0, np.pi, 400)


def psi(theta, m):
    j = np.minimum(np.floor(theta * m / np.pi), m - 1)
    return (-1.0) ** j * np.cos(m * theta) - 2.0 * j


fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(np.rad2deg(theta), np.cos(theta), "k", label=r"softmax: $\cos\theta$")
ax.plot(np.rad2deg(theta), psi(theta, 2), label=r"L-Softmax, $m=2$: $\psi(\theta)$")
for s in (1.0, 4.0):
    ax.plot(np.rad2deg(theta), np.cos(theta) - 1.0 / s, "--",
            label=rf"soft margin $m=1$, $s={s:g}$: $\cos\theta - m/s$")
ax.set(xlabel=r"angle $\theta_y$ between $x$ and $w_y$ (degrees)",
       ylabel=r"target logit $/\ \|w_y\|\,\|x\|$", ylim=(-3.2, 1.1))
ax.legend(fontsize=8)
fig.tight_layout()
show(fig, "02_soft_vs_angular_margin")

# %%
# Summary
# -------
#
# * M-Softmax (Eqs. 3-4) is the softmax loss of :math:`z - mY`: the target
#   logit must lead by about :math:`m` before the loss lets go.
# * Its gradient is :math:`(\tilde P - Y)/n` with respect to the logits, the
#   same formula as softmax at shifted logits; it passes the finite-difference
#   check with respect to logits, features and weights.
# * The margin lives in logit units. A linear classifier on fixed features
#   answers it mostly by growing its weights; in a network the features move.
# * Compared with L-Softmax's :math:`\cos(m\theta)`, the margin is additive,
#   real-valued and costs nothing in the backward pass.
#
# Next, tutorial 03 introduces the second ingredient of the paper: a measure
# of how different two classifiers are.
