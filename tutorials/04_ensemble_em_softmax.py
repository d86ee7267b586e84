r"""
The ensemble: E-Softmax and EM-Softmax
======================================

Tutorials 01-03 built the pieces: the softmax loss, the soft margin :math:`m`
(Eqs. 3-4) and the HSIC diversity :math:`D` between classifiers (Eqs. 5-6).
E-Softmax (Eq. 7) and EM-Softmax (Eq. 8) put them together. The last layer
holds :math:`V` weak classifiers
:math:`W_1, \dots, W_V \in \mathbb{R}^{d\times K}`, stored by emsm_np as one
array of shape ``(V, d, K)``; each has its own soft-margin cross-entropy, and
:math:`\lambda D` keeps them apart (Eq. 8):

.. math::

   L = \sum_{v=1}^{V} \mathrm{CE}_v + \lambda D, \qquad
   D = \sum_{v}\sum_{u\ne v} \mathrm{tr}\big(\hat W_v H \hat W_u^\top \hat W_u H \hat W_v^\top\big).

With :math:`m = 0` this is E-Softmax (Eq. 7), with :math:`m > 0` EM-Softmax
(Eq. 8). At test time the weak classifiers are averaged into one,
:math:`\bar W = \frac1V \sum_v W_v` (Sec. 4.3), used without margin.

In this tutorial we

* rebuild the loss (Eq. 8) and both gradients (Eq. 9, for :math:`W_v` and for
  the features :math:`x`) from the functional pieces and compare them with
  :func:`emsm_np.losses.em_softmax_loss`;
* check both gradients against finite differences for :math:`V = 3`;
* look at the averaged classifier (:meth:`EMSoftmax.predict
  <emsm_np.losses.EMSoftmax.predict>`) and why averaging the weights is
  averaging the logits;
* train the head on fixed features with and without the diversity term, and
  measure how different the weak classifiers really become.
"""

# %%
# Setup
# -----

import itertools
import os

import matplotlib.pyplot as plt
import numpy as np

from emsm_np import gradcheck
from emsm_np.figures import show
from emsm_np.functional.hsic import hsic_diversity_backward, hsic_diversity_forward
from emsm_np.functional.margin_cross_entropy import (
    margin_cross_entropy_backward,
    margin_cross_entropy_forward,
)
from emsm_np.functional.normalize import normalize_backward, normalize_forward
from emsm_np.losses import EMSoftmax, em_softmax_loss
from emsm_np.optim import SGD

FAST = os.environ.get("EMSM_FAST") == "1"
SMOOTH = 1e-7  # relative-error bound for smooth operations (emsm_np.gradcheck.SMOOTH; see docs/contributing.md)
rng = np.random.default_rng(0)

n, d, K, V = 6, 5, 4, 3
x = rng.standard_normal((n, d))
W = rng.standard_normal((V, d, K))
y = rng.integers(0, K, n)
m, lam, normalize = 0.5, 0.1, "column"

# %%
# The loss, piece by piece (Eq. 8)
# --------------------------------
#
# Each weak classifier :math:`v` has logits :math:`z_v = xW_v` and the
# soft-margin cross-entropy of tutorial 02, :math:`\mathrm{CE}_v`, averaged over
# the batch. The diversity term is tutorial 03's :math:`D`, measured, as the
# paper says, on normalised classifiers :math:`\hat W_v` (which normalisation is
# emsm_np's choice: ``normalize="column"`` by default). The cross-entropies are
# **summed** over the ensemble, not averaged, as in Eqs. 7-8
# (:math:`\sum_{v=1}^V`). The paper writes the loss of one sample; averaging it
# over the batch, which adds :math:`D` once per batch, is emsm_np's choice where
# the paper does not say mean or sum.

ce_parts = [margin_cross_entropy_forward(x @ W[v], y, m) for v in range(V)]
W_hat, ncache = normalize_forward(W, normalize)
D, hcache = hsic_diversity_forward(W_hat)
loss_ours = sum(float(ce) for ce, _ in ce_parts) + lam * float(D)

loss_lib, dx_lib, dW_lib = em_softmax_loss(x, W, y, margin=m, lam=lam, normalize=normalize)
print(f"CE_v = {[round(float(ce), 4) for ce, _ in ce_parts]},  D = {float(D):.4f}")
print(f"L: ours {loss_ours:.12f}   em_softmax_loss {loss_lib:.12f}")
assert abs(loss_ours - loss_lib) < 1e-12

# %%
# The four losses of the paper are switches of the same function:
#
# ============  ==============  =========  ===============
# loss          :math:`V`       :math:`m`  :math:`\lambda`
# ============  ==============  =========  ===============
# Softmax       1               0          0
# M-Softmax     1               > 0        0
# E-Softmax     :math:`\ge 2`   0          > 0
# EM-Softmax    :math:`\ge 2`   > 0        > 0
# ============  ==============  =========  ===============

for name, Wv, mm, ll in [("Softmax", W[:1], 0.0, 0.0), ("M-Softmax", W[:1], m, 0.0),
                         ("E-Softmax", W, 0.0, lam), ("EM-Softmax", W, m, lam)]:
    loss_switch = em_softmax_loss(x, Wv, y, margin=mm, lam=ll)[0]
    print(f"{name:10s} V={Wv.shape[0]} m={mm} lam={ll}: L = {loss_switch:.4f}")

# %%
# The gradients (Eq. 9)
# ---------------------
#
# :math:`W_v` reaches the loss along two paths: through its own logits, and
# through :math:`\hat W_v` in :math:`D`. Each path is one of the previous
# tutorials:
#
# .. math::
#
#    \frac{\partial L}{\partial W_v}
#    = \underbrace{\frac1n\, x^\top (\tilde P_v - Y)}_{\text{tutorial 02}}
#    + \lambda \underbrace{J_v^\top \big(4\, \hat W_v M_v\big)}_{\text{tutorial 03}},
#    \qquad \tilde P_v = \mathrm{softmax}(xW_v - mY),
#
# with :math:`M_v = \sum_{u\ne v} H\hat W_u^\top \hat W_u H` (the paper's
# :math:`K_v`) and :math:`J_v^\top` the backward pass of the normalisation. The
# paper's Eq. 9 writes the second term :math:`\lambda W_v K_v`, without the 4
# and the Jacobian (tutorial 03: if its authors trained with that form, their
# :math:`\lambda` is 4 times emsm_np's). The features reach
# the loss through every classifier's logits, and :math:`D` does not depend on
# them:
#
# .. math::
#
#    \frac{\partial L}{\partial x} = \frac1n \sum_{v=1}^{V} (\tilde P_v - Y)\, W_v^\top .
#
# Because the cross-entropies are summed, the features receive :math:`V` pulls
# per step: with :math:`V = 3` the gradient that flows back into a network is
# about three times that of a single softmax, which matters when choosing a
# learning rate.

dz = [margin_cross_entropy_backward(1.0, cache) for _, cache in ce_parts]  # (P~_v - Y) / n
dW_ours = np.stack([x.T @ dz[v] for v in range(V)])
dW_ours += lam * normalize_backward(hsic_diversity_backward(1.0, hcache), ncache)
dx_ours = sum(dz[v] @ W[v].T for v in range(V))

print(f"dW: rel. difference to em_softmax_loss {gradcheck.rel_error(dW_ours, dW_lib):.1e}")
print(f"dx: rel. difference to em_softmax_loss {gradcheck.rel_error(dx_ours, dx_lib):.1e}")
assert gradcheck.rel_error(dW_ours, dW_lib) < 1e-12 and gradcheck.rel_error(dx_ours, dx_lib) < 1e-12

# %%
# The finite-difference check of both gradients, for :math:`V = 3` and each
# normalisation mode:

errors = {}
for mode in ("column", "frobenius", "none"):
    _, dx, dW = em_softmax_loss(x, W, y, margin=m, lam=lam, normalize=mode)
    err = gradcheck.check_function(
        lambda: em_softmax_loss(x, W, y, margin=m, lam=lam, normalize=mode)[0],
        {"x": x, "W": W}, {"x": dx, "W": dW},
    )
    for name, e in err.items():
        errors[f"dL/d{name}, {mode}"] = e
for name, e in errors.items():
    print(f"V={V}, m={m}, lam={lam}: relative error {name:15s} {e:.1e}")
assert max(errors.values()) < SMOOTH, errors

# %%
# Test time: the averaged classifier
# ----------------------------------
#
# At test time the head predicts with :math:`\bar W = \frac1V \sum_v W_v` and no
# margin (:meth:`EMSoftmax.logits <emsm_np.losses.EMSoftmax.logits>` and
# :meth:`~emsm_np.losses.EMSoftmax.predict`). The map :math:`W \mapsto xW` is
# linear, so averaging the classifiers is the same as averaging their logits:
#
# .. math::
#
#    x \bar W = \frac1V \sum_v x W_v .
#
# It is *not* the same as averaging their probabilities (soft voting) or taking
# a majority vote; those would be other choices, and emsm_np follows the
# paper's averaged classifier (Sec. 4.3: "we simply construct the final
# ensemble classifier by averaging weak classifiers").

head = EMSoftmax(d, K, ensemble=V, margin=m, lam=lam, dtype=np.float64, rng=0)
x_test = rng.standard_normal((2000, d))
weak = head.weak_logits(x_test)  # (V, n, K)
print("logits of the averaged classifier = mean of the weak logits:",
      np.allclose(head.logits(x_test), weak.mean(axis=0), rtol=1e-12, atol=1e-14))
assert np.allclose(head.logits(x_test), x_test @ head.params["weight"].mean(axis=0), rtol=1e-12, atol=1e-14)
assert np.allclose(head.logits(x_test), weak.mean(axis=0), rtol=1e-12, atol=1e-14)
assert np.array_equal(head.predict(x_test), weak.mean(axis=0).argmax(axis=1))

probs = np.exp(weak - weak.max(axis=2, keepdims=True))
probs /= probs.sum(axis=2, keepdims=True)
soft_vote = probs.mean(axis=0).argmax(axis=1)
shared = np.mean(soft_vote == head.predict(x_test))
print(f"predictions shared with soft voting on random inputs: {shared:.3f}")

# %%
# One consequence is worth stating plainly: :math:`\bar W` is itself a single
# linear classifier. At test time the ensemble has no more capacity than one
# softmax layer; whatever EM-Softmax gains must come from training, through
# what the weak classifiers and their gradients do to the features.
#
# How diverse do the weak classifiers become?
# -------------------------------------------
#
# We now train the head alone on fixed features: ten Gaussian classes in 32
# dimensions stand in for the output of a frozen network. :math:`V = 3`,
# :math:`m = 0.5`, momentum SGD with weight decay, and the same initialisation
# for every run; only :math:`\lambda` changes. We measure
#
# * ``D``: the diversity as the head measures it (:meth:`EMSoftmax.diversity
#   <emsm_np.losses.EMSoftmax.diversity>`, column-normalised);
# * ``agree``: how often two weak classifiers predict the same class on test
#   data (averaged over the pairs);
# * ``cos(WvH,WuH)``: the cosine between the **centred** classifiers
#   :math:`W_v H`. A classifier's predictions depend on :math:`W_v H` only,
#   because :math:`xW_vH` is :math:`xW_v` minus the mean logit of the row; a
#   cosine of 1 means "the same classifier up to scale";
# * ``|c_v|``: the size of the part that :math:`H` removes, the class-common
#   vector :math:`c_v = \frac1K W_v \mathbf{1}`, which changes no prediction,
#   and ``|W_vH|``, the Frobenius norm of the part that does (both averaged
#   over :math:`v`);
# * ``weak acc`` and ``avg acc``: the test accuracy of the weak classifiers
#   (averaged over :math:`v`) and of the averaged classifier.

Kc, dc, n_train, n_test = 10, 32, 50, 100
means = rng.standard_normal((Kc, dc))


def sample(n_per):
    feats = np.concatenate([mu + 1.5 * rng.standard_normal((n_per, dc)) for mu in means])
    return feats, np.repeat(np.arange(Kc), n_per)


X_train, y_train = sample(n_train)
X_test, y_test = sample(n_test)
steps = 150 if FAST else 400


def train(lam, normalize="column"):
    head = EMSoftmax(dc, Kc, ensemble=3, margin=0.5, lam=lam, normalize=normalize,
                     dtype=np.float64, rng=1)
    opt = SGD(head.params, head.grads, lr=0.05, momentum=0.9, weight_decay=5e-3)
    for _ in range(steps):
        head.forward(X_train, y_train)
        head.backward()
        opt.step()
    return head


def measure(head):
    Wt = head.params["weight"]
    centred = Wt - Wt.mean(axis=2, keepdims=True)  # W_v H
    pairs = list(itertools.combinations(range(Wt.shape[0]), 2))
    weak_pred = head.weak_logits(X_test).argmax(axis=2)
    return {
        "D": head.diversity(),
        "agree": np.mean([np.mean(weak_pred[a] == weak_pred[b]) for a, b in pairs]),
        "cos(WvH,WuH)": np.mean([(centred[a] * centred[b]).sum()
                                    / (np.linalg.norm(centred[a]) * np.linalg.norm(centred[b]))
                                    for a, b in pairs]),
        "|c_v|": np.linalg.norm(Wt.mean(axis=2), axis=1).mean(),
        "|W_vH|": np.linalg.norm(centred, axis=(1, 2)).mean(),
        "weak acc": np.mean(weak_pred == y_test),
        "avg acc": np.mean(head.predict(X_test) == y_test),
    }


lams = [0.0, 0.01, 0.1, 1.0]
results = {lam_: measure(train(lam_)) for lam_ in lams}
keys = list(results[0.0])
print("lambda | " + " | ".join(f"{k:>12s}" for k in keys))
for lam_, r in results.items():
    print(f"{lam_:6.2f} | " + " | ".join(f"{r[k]:12.3f}" for k in keys))

# %%
# Without the penalty (:math:`\lambda = 0`) the three classifiers end up as the
# same classifier: agreement and cosine are 1. That is no accident. With fixed
# features each :math:`\mathrm{CE}_v` is a convex function of its own
# :math:`W_v`, and weight decay makes it strictly convex, so all three runs,
# started from different points, head for the same unique minimiser. On fixed
# features, random initialisation alone does not make an ensemble.
#
# With the penalty, :math:`D` drops by orders of magnitude, yet the agreement
# and the cosine of the centred classifiers hardly move. The table shows where
# the drop comes from: the class-common part :math:`\lVert c_v \rVert` grows
# from almost nothing while :math:`\lVert W_vH \rVert` shrinks. This is the shift
# of tutorial 03: adding :math:`c_v\mathbf{1}^\top` turns all the normalised
# class vectors towards :math:`c_v` and lowers the column-normalised :math:`D`
# without changing any prediction, so the optimiser pays the penalty there,
# limited only by the weight decay. The unnormalised :math:`D` (``"none"``,
# which the paper does not use) has the other way out seen in tutorial 03,
# shrinking the classifiers:

for mode in ("frobenius", "none"):
    r = measure(train(1.0, normalize=mode))
    print(f"normalize={mode!r:11s} lambda=1: D {r['D']:.3f}, agreement {r['agree']:.3f}, "
          f"cos {r['cos(WvH,WuH)']:.3f}, |c_v| {r['|c_v|']:.2f}, |W_vH| {r['|W_vH|']:.2f}")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
lam_axis = [1e-3] + lams[1:]  # lambda = 0 drawn at 1e-3 on the log axis
axes[0].semilogx(lam_axis, [results[l_]["D"] for l_ in lams], "o-")
axes[0].set(yscale="log", ylabel="D (column-normalised)", title="what the penalty measures")
axes[1].semilogx(lam_axis, [results[l_]["agree"] for l_ in lams], "o-", label="prediction agreement")
axes[1].semilogx(lam_axis, [results[l_]["cos(WvH,WuH)"] for l_ in lams], "s-", label=r"cos($W_vH$, $W_uH$)")
axes[1].set(ylim=(0.9, 1.005), title="how different the classifiers are")
axes[1].legend()
axes[2].semilogx(lam_axis, [results[l_]["|c_v|"] for l_ in lams], "o-",
                 label=r"$\|c_v\|$ (no effect on predictions)")
axes[2].semilogx(lam_axis, [results[l_]["|W_vH|"] for l_ in lams], "s-", label=r"$\|W_vH\|_F$")
axes[2].set(title="where the weights went")
axes[2].legend()
for ax in axes:
    ax.set_xlabel(r"$\lambda$ ($\lambda = 0$ drawn at $10^{-3}$)")
fig.tight_layout()
show(fig, "04_ensemble")

# %%
# What to take from this experiment, and what not. It trains a linear head on
# frozen features, where the weak classifiers can differ only in their own
# weights. In the paper the features are learned at the same time, and every
# weak classifier's gradient flows into them (Eq. 9); this experiment says
# nothing about that setting. What it does show is that a small :math:`D` is not by itself
# evidence of diverse classifiers: measure the predictions too. ``emsm
# evaluate`` reports each weak classifier's accuracy and how often they agree
# for exactly this reason.
#
# Summary
# -------
#
# * EM-Softmax (Eq. 8) sums the soft-margin cross-entropies of :math:`V` weak
#   classifiers and adds :math:`\lambda D`; :math:`V, m, \lambda` switch between
#   Softmax, M-Softmax, E-Softmax and EM-Softmax.
# * :math:`\partial L/\partial W_v = x^\top(\tilde P_v - Y)/n + \lambda
#   J_v^\top(4\hat W_v M_v)` and
#   :math:`\partial L/\partial x = \sum_v (\tilde P_v - Y)W_v^\top / n`
#   (Eq. 9), rebuilt here from the functional pieces and checked against
#   finite differences for :math:`V = 3`.
# * Test time averages the classifiers, which equals averaging the logits;
#   the result is one linear classifier.
# * On fixed features, without the penalty the weak classifiers collapse into
#   one; with it, :math:`D` falls mostly through directions that change no
#   prediction.
#
# Tutorial 05 builds the CNN that produces the features, by hand; tutorial 06
# trains the whole network with EM-Softmax on MNIST.
