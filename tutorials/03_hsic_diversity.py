r"""
HSIC: how different are two classifiers?
========================================

The paper's second change is an ensemble: :math:`V` weak classifiers
:math:`W_1, \dots, W_V` trained side by side and averaged at test time. An
ensemble only helps if its members differ, so the paper adds a penalty that
keeps them apart, built on the Hilbert-Schmidt Independence Criterion (HSIC,
Eq. 1), applied to the classifiers with a linear kernel (Eqs. 5-6).

In this tutorial we

* meet HSIC as a measure of statistical dependence, on samples we control;
* apply it to two classifiers, check that the paper's trace
  :math:`\mathrm{tr}(W_v H W_u^\top W_u H W_v^\top)` equals the kernel form and
  emsm_np's implementation, and see what makes it zero or large;
* see why the paper normalises the classifiers inside the penalty (which
  normalisation, it does not say; emsm_np offers several), and what
  normalisation does *not* remove;
* compare the exact gradient of the penalty with the paper's
  :math:`\lambda W_v K_v`, and check each against finite differences.
"""

# %%
# Setup
# -----

import os

import matplotlib.pyplot as plt
import numpy as np

from emsm_np import gradcheck
from emsm_np.figures import show
from emsm_np.functional.hsic import hsic_diversity_backward, hsic_diversity_forward
from emsm_np.functional.normalize import normalize_backward, normalize_forward
from emsm_np.losses import EMSoftmax, diversity, em_softmax_loss, paper_hsic_gradient

FAST = os.environ.get("EMSM_FAST") == "1"
SMOOTH = 1e-7  # relative-error bound for smooth operations (emsm_np.gradcheck.SMOOTH; see docs/contributing.md)
MODES = ("none", "column", "frobenius")
rng = np.random.default_rng(0)

# %%
# HSIC as a dependence measure
# ----------------------------
#
# Take :math:`N` paired samples :math:`(a_i, b_i)`, a kernel :math:`k` on the
# :math:`a`'s and a kernel :math:`l` on the :math:`b`'s, their kernel matrices
# :math:`K_{ij} = k(a_i, a_j)`, :math:`L_{ij} = l(b_i, b_j)`, and the centring
# matrix :math:`H = I_N - \frac1N \mathbf{1}\mathbf{1}^\top`. The empirical HSIC
# (Eq. 1) is
#
# .. math::
#
#    \mathrm{HSIC}(a, b) = \frac{1}{(N-1)^2}\, \mathrm{tr}(K H L H) .
#
# It is (close to) zero when :math:`a` and :math:`b` are independent, and larger
# the more one tells about the other. With **linear** kernels,
# :math:`K = AA^\top` and :math:`L = BB^\top` (samples as rows of :math:`A, B`),
# the trace cycles into a familiar quantity,
#
# .. math::
#
#    \frac{\mathrm{tr}(A A^\top H B B^\top H)}{(N-1)^2}
#    = \Big\lVert \tfrac{1}{N-1} A^\top H B \Big\rVert_F^2
#    = \lVert \mathrm{Cov}(a, b) \rVert_F^2 ,
#
# the squared norm of the cross-covariance: a linear kernel only sees
# **linear** dependence. A Gaussian kernel sees any dependence. Let us check
# both on three kinds of pairs: independent, linearly dependent, and
# :math:`b = a^2` + noise, which is dependent but uncorrelated (:math:`a` is
# symmetric). Each HSIC is compared with the HSIC of the same samples with
# the pairing shuffled, which destroys any dependence.


def hsic(K, L):
    """(N-1)^-2 tr(K H L H), with H K H computed by centring rows and columns."""
    N = K.shape[0]
    Kc = K - K.mean(axis=0) - K.mean(axis=1, keepdims=True) + K.mean()
    return (Kc * L).sum() / (N - 1) ** 2  # tr(HKH L) = <HKH, L>_F (both symmetric)


def gaussian_kernel(A):
    sq = ((A[:, None, :] - A[None, :, :]) ** 2).sum(axis=-1)
    return np.exp(-sq / np.median(sq[sq > 0]))  # bandwidth: the median heuristic


N = 200 if FAST else 400
A = rng.standard_normal((N, 2))
pairs = {
    "independent": rng.standard_normal((N, 2)),
    "linear, b = aM + noise": A @ rng.standard_normal((2, 2)) + 0.5 * rng.standard_normal((N, 2)),
    "nonlinear, b = a^2 + noise": A ** 2 + 0.5 * rng.standard_normal((N, 2)),
}
shuffles = 10 if FAST else 30

print(f"{'pair':28s} | linear HSIC (x shuffled) | Gaussian HSIC (x shuffled)")
for name, B in pairs.items():
    row = []
    for kernel in (lambda M: M @ M.T, gaussian_kernel):
        K, L = kernel(A), kernel(B)
        value = hsic(K, L)
        null = np.mean([hsic(K, L[np.ix_(p, p)]) for p in (rng.permutation(N) for _ in range(shuffles))])
        row.append(f"{value:9.4f} ({value / null:6.1f}x)")
    print(f"{name:28s} | {row[0]:24s} | {row[1]}")
    cov = A.T @ (B - B.mean(axis=0)) / (N - 1)
    assert abs(hsic(A @ A.T, B @ B.T) - (cov ** 2).sum()) < 1e-10 * (cov ** 2).sum()

# %%
# The linear HSIC of the independent pair is not exactly zero (a finite sample
# always shows some covariance), but it is at the level of the shuffled pairs,
# and the linear pair stands two orders of magnitude above. For
# :math:`b = a^2` the linear HSIC stays within a small factor of the shuffled
# level: its population value is zero, and what a finite sample shows is a bias
# of order :math:`1/N` (somewhat larger than for shuffled pairs, because the
# tails of :math:`a` and :math:`a^2` move together) that vanishes as :math:`N`
# grows. The Gaussian kernel's HSIC stands clearly above its shuffled level
# for both dependent pairs. The paper uses the **linear** kernel, so
# "independent" below means "uncorrelated".
#
# HSIC between two classifiers (Eqs. 5-6)
# ---------------------------------------
#
# A classifier :math:`W_v \in \mathbb{R}^{d\times K}` is a set of :math:`K`
# class vectors, its columns :math:`w^v_1, \dots, w^v_K`. The paper treats
# these as :math:`K` samples, paired class by class with the columns of
# another classifier :math:`W_u`. With a linear kernel the kernel matrix is the
# Gram matrix of the class vectors, :math:`K_v = W_v^\top W_v \in
# \mathbb{R}^{K\times K}`, :math:`H = I_K - \frac1K \mathbf{1}\mathbf{1}^\top`,
# and by the cyclic property of the trace
#
# .. math::
#
#    \mathrm{tr}(K_v H K_u H) = \mathrm{tr}(W_v H W_u^\top W_u H W_v^\top)
#    = \lVert W_v H W_u^\top \rVert_F^2 ,
#
# the middle form being the paper's. :math:`W_v H W_u^\top = \sum_k (w^v_k -
# \bar w^v)(w^u_k - \bar w^u)^\top` is the cross-covariance, across the classes,
# between the class vectors of the two classifiers. The paper's HSIC of two
# classifiers (Eq. 5) carries the constant :math:`(K-1)^{-2}`; its ensemble
# penalty (Eq. 6) drops it ("ignoring the scaling factor") and sums over
# **ordered** pairs (each unordered pair twice), and so does emsm_np:
#
# .. math::
#
#    D = \sum_{v} \sum_{u \ne v} \mathrm{tr}(W_v H W_u^\top W_u H W_v^\top) .
#
# emsm_np computes :math:`D` without a double loop: with
# :math:`G_v = H K_v H` and :math:`S = \sum_v G_v`,
# :math:`D = \lVert S \rVert_F^2 - \sum_v \lVert G_v \rVert_F^2`
# (see :mod:`emsm_np.functional.hsic`). All forms must agree:

V, d, K = 3, 6, 5
W = rng.standard_normal((V, d, K))
H = np.eye(K) - np.ones((K, K)) / K

paper_form = kernel_form = cov_form = 0.0
for v in range(V):
    for u in range(V):
        if u != v:
            paper_form += np.trace(W[v] @ H @ W[u].T @ W[u] @ H @ W[v].T)
            kernel_form += np.trace(W[v].T @ W[v] @ H @ W[u].T @ W[u] @ H)
            cov_form += np.linalg.norm(W[v] @ H @ W[u].T) ** 2
D_lib = float(hsic_diversity_forward(W)[0])
print(f"paper's trace {paper_form:.10f}\nkernel form   {kernel_form:.10f}\n"
      f"covariance    {cov_form:.10f}\nemsm_np       {D_lib:.10f}")
for other in (kernel_form, cov_form, D_lib, diversity(W, normalize="none")):
    assert abs(other - paper_form) < 1e-10 * paper_form

# %%
# When is :math:`D` zero, and when is it large?
# ---------------------------------------------
#
# :math:`D = \sum \lVert W_v H W_u^\top \rVert_F^2` is zero exactly when every
# row of :math:`W_v H` is orthogonal to every row of :math:`W_u H`. Those rows
# live in the :math:`(K-1)`-dimensional space of vectors orthogonal to
# :math:`\mathbf{1}` (the space of "which class scores higher than which").
# So two classifiers are independent in this sense when they use orthogonal
# subspaces of class contrasts; with :math:`K` classes there are only
# :math:`K-1` directions to share out. At the other end, two copies of one
# classifier are as dependent as two classifiers of that size can be
# (Cauchy-Schwarz). A classifier whose columns are all equal scores every
# class alike: :math:`W H = 0`, and it is independent of everything. (The
# first :math:`D` below is zero up to rounding error.)

Q = np.linalg.qr(np.hstack([np.ones((K, 1)), rng.standard_normal((K, K - 1))]))[0][:, 1:]
W_orth = np.stack([rng.standard_normal((d, 2)) @ Q[:, :2].T,   # contrasts q1, q2
                   rng.standard_normal((d, 2)) @ Q[:, 2:].T])  # contrasts q3, q4
W_copies = np.stack([W[0], W[0]])
W_blind = np.stack([W[0], np.repeat(rng.standard_normal((d, 1)), K, axis=1)])
for name, Wp in [("orthogonal contrasts", W_orth), ("two copies", W_copies), ("one class-blind", W_blind)]:
    print(f"{name:22s} D = {diversity(Wp, normalize='none'):10.3g}")
assert diversity(W_orth, normalize="none") < 1e-10 and diversity(W_blind, normalize="none") < 1e-10

# %%
# Why the paper normalises the classifiers
# ----------------------------------------
#
# On the raw classifiers, :math:`D` has degree 4 in the weights,
# :math:`D(sW) = s^4 D(W)`, while what a classifier predicts,
# :math:`\arg\max_k (xW_v)_k`, does not change when :math:`W_v` is scaled by
# :math:`s > 0`. Training could therefore lower :math:`\lambda D` by shrinking
# every :math:`W_v`, without making the classifiers any more different. (That
# argument is ours. The paper's is the other side of the same scale issue: the
# HSIC term is "value-aware", and "if the magnitude of different weak classifiers
# is quite large, the diversity may not be well handled".) The paper therefore
# uses "the normalized weak classifiers to compute the diversity" (Sec. 3.2),
# without saying which normalisation.
#
# emsm_np measures diversity on normalised classifiers :math:`\hat W_v`
# (:mod:`emsm_np.functional.normalize`): ``"column"`` scales each class vector
# to unit length (the default), ``"frobenius"`` scales :math:`W_v` to unit
# Frobenius norm, and ``"none"`` does not normalise at all (unlike the paper;
# it is there for comparison). The cross-entropy always uses the raw
# :math:`W_v`. After normalisation :math:`D` no longer depends on the scale:

scales = np.logspace(-1, 1, 9)
D_scaled = {mode: np.array([diversity(s * W, mode) for s in scales]) for mode in MODES}
for mode in MODES:
    print(f"{mode:9s} D(10 W) / D(W) = {diversity(10 * W, mode) / diversity(W, mode):10.4f}")
assert abs(diversity(10 * W, "none") / diversity(W, "none") - 1e4) < 1e-6
assert abs(diversity(10 * W, "column") / diversity(W, "column") - 1) < 1e-12

# %%
# What normalisation does not remove
# ----------------------------------
#
# Scale is not the only change that leaves a classifier's predictions alone.
# Adding the same vector :math:`c` to every class vector,
# :math:`W_v \to W_v + c\,\mathbf{1}^\top`, adds :math:`x \cdot c` to every logit
# of a sample, and softmax ignores a shift common to a row (tutorial 01): the
# cross-entropy, its gradient with respect to the logits and the predictions do
# not change. The paper's :math:`D` ignores it too, because
# :math:`\mathbf{1}^\top H = 0`. But the normalised :math:`\hat W_v` does not:
# as :math:`\lVert c \rVert` grows, all normalised class vectors turn towards
# :math:`c`, :math:`\hat W_v H` shrinks, and :math:`D` falls, with the
# classifiers unchanged. This is a property of the column and Frobenius
# normalisations (the paper does not say which normalisation it used); tutorial
# 04 shows that training does find and use it.

x = rng.standard_normal((8, d))
y = rng.integers(0, K, 8)
direction = rng.standard_normal(d)
direction /= np.linalg.norm(direction)
shifts = np.linspace(0.0, 10.0, 11)
D_shifted = {mode: [] for mode in MODES}
for c_norm in shifts:
    W_c = W + c_norm * direction[None, :, None]  # W_v + c 1^T for every v
    ce_0, ce_c = em_softmax_loss(x, W, y)[0], em_softmax_loss(x, W_c, y)[0]
    assert abs(ce_c - ce_0) < 1e-9 * V  # same cross-entropy ...
    assert all(np.array_equal((x @ W[v]).argmax(1), (x @ W_c[v]).argmax(1)) for v in range(V))
    for mode in MODES:
        D_shifted[mode].append(diversity(W_c, mode))
for mode in MODES:
    print(f"{mode:9s} D(W + 10 c 1^T) / D(W) = {D_shifted[mode][-1] / D_shifted[mode][0]:.4f}")

fig, (ax_s, ax_c) = plt.subplots(1, 2, figsize=(10, 3.8))
for mode in MODES:
    ax_s.loglog(scales, D_scaled[mode] / D_scaled[mode][len(scales) // 2], "o-", label=mode)
    ax_c.plot(shifts, np.array(D_shifted[mode]) / D_shifted[mode][0], "o-", label=mode)
ax_s.set(xlabel="scale s", ylabel="D(sW) / D(W)", title="scaling every classifier")
ax_c.set(xlabel=r"$\|c\|$", ylabel=r"$D(W + c\mathbf{1}^\top) / D(W)$",
         title="adding a common vector to every class vector")
for ax in (ax_s, ax_c):
    ax.legend()
fig.tight_layout()
show(fig, "03_hsic")

# %%
# A normalisation that the shift cannot fool
# ------------------------------------------
#
# emsm_np offers a fourth mode, ``normalize="centered"``: it first removes the
# shift, :math:`W_v H` (exactly the part of :math:`W_v` that softmax sees), and
# then divides by :math:`\lVert W_v H \rVert_F`. Neither a rescaling nor a
# common vector :math:`c\,\mathbf{1}^\top` changes it, so :math:`D` can only
# fall by making the classifiers really differ. It is not in the paper; it is
# there so that you can compare.

D_c0 = diversity(W, "centered")
for c_norm in (1.0, 10.0):
    W_c = W + c_norm * direction[None, :, None]
    assert abs(diversity(W_c, "centered") - D_c0) < 1e-9 * D_c0
assert abs(diversity(0.1 * W, "centered") - D_c0) < 1e-9 * D_c0
print(f"centered: D(W) = {D_c0:.4f} = D(0.1 W) = D(W + 10 c 1^T)")

# %%
# The exact gradient and the paper's :math:`\lambda W_v K_v`
# ----------------------------------------------------------
#
# With :math:`C_v = \hat W_v H`, :math:`G_v = C_v^\top C_v` and
# :math:`D = \lVert S \rVert_F^2 - \sum_v \lVert G_v \rVert_F^2`, the derivative
# with respect to one Gram matrix is :math:`2\sum_{u\ne v} G_u = 2 M_v`. Through
# :math:`G_v = C_v^\top C_v` (a factor 2 again, :math:`M_v` being symmetric) and
# :math:`C_v = \hat W_v H` (:math:`H M_v = M_v`):
#
# .. math::
#
#    \frac{\partial D}{\partial \hat W_v} = 4\, \hat W_v M_v, \qquad
#    M_v = \sum_{u \ne v} H \hat W_u^\top \hat W_u H .
#
# The paper writes the gradient of the penalty as :math:`\lambda W_v K_v` (the
# text after Eq. 7, and Eq. 9).
# Read as emsm_np reads it (:mod:`emsm_np.functional.hsic`), that
# :math:`K_v` is our :math:`M_v`, not the kernel matrix
# :math:`K_v = W_v^\top W_v` of the previous sections. Two differences:
#
# 1. **the factor 4**: one 2 because the sum runs over ordered pairs, one
#    because :math:`D` is quadratic in each classifier (with :math:`M_v` held
#    fixed the derivative would still be :math:`2\hat W_v M_v`). Without
#    normalisation (``"none"``) that is the only difference;
# 2. **the normalisation**: once :math:`D` is measured on :math:`\hat W_v`, the
#    gradient with respect to the parameters :math:`W_v` goes through the
#    Jacobian of :math:`W_v \mapsto \hat W_v`. For one block :math:`w` (a column,
#    or the whole :math:`W_v`) with norm :math:`r`,
#    :math:`\bar w = (\bar{\hat w} - \hat w\,(\hat w \cdot \bar{\hat w})) / r`:
#    the radial part is removed and the rest is divided by the norm.
#
# **What the factor 4 means for** :math:`\lambda`. The paper's losses (Eqs. 7
# and 8) weight this same :math:`D` by :math:`\lambda`. If its authors trained
# with their stated :math:`\lambda W_v K_v`, their update is the exact
# gradient of :math:`(\lambda/4) D`: a :math:`\lambda` of the paper is
# :math:`\lambda/4` in emsm_np (their working value 0.1 is emsm_np's 0.025,
# emsm_np's 0.1 their 0.4). The paper does not say which gradient it trained
# with; ``hsic_gradient="paper"`` (``emsm train --hsic-gradient paper``) trains
# with its stated form.
#
# :func:`emsm_np.losses.paper_hsic_gradient` returns the paper's form (computed
# on :math:`\hat W_v`); the exact gradient is
# :func:`~emsm_np.functional.hsic.hsic_diversity_backward` followed by
# :func:`~emsm_np.functional.normalize.normalize_backward`. We compare them on
# classifiers drawn like the head's initialisation,
# :math:`U(-1/\sqrt d, 1/\sqrt d)`, and on the same classifiers ten times
# larger.

W_init = EMSoftmax(d, K, ensemble=V, dtype=np.float64, rng=0).params["weight"].copy()


def exact_gradient(W, mode):
    W_hat, ncache = normalize_forward(W, mode)
    _, hcache = hsic_diversity_forward(W_hat)
    return normalize_backward(hsic_diversity_backward(1.0, hcache), ncache)


def radial_part(W, g, mode):
    """Fraction of g (by norm) along the blocks' own directions w^ (0 = no radial component)."""
    axes = (1,) if mode == "column" else (1, 2)
    w_hat = W / np.linalg.norm(W, axis=axes, keepdims=True)
    radial = w_hat * (w_hat * g).sum(axis=axes, keepdims=True)
    return np.linalg.norm(radial) / np.linalg.norm(g)


def cosine(a, b):
    return (a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b))


print(f"{'mode':9s} {'scale':>5s} | |exact|/|paper| | cos(exact, paper) | |exact-paper|/|exact| "
      f"| radial: exact, paper")
for mode in MODES:
    for s in (1.0, 10.0):
        Ws = s * W_init
        exact = exact_gradient(Ws, mode)
        paper = paper_hsic_gradient(normalize_forward(Ws, mode)[0])
        ratio = np.linalg.norm(exact) / np.linalg.norm(paper)
        rel = np.linalg.norm(exact - paper) / np.linalg.norm(exact)
        radial = ""
        if mode != "none":
            radial = f"{radial_part(Ws, exact, mode):.0e}, {radial_part(Ws, paper, mode):.2f}"
        print(f"{mode:9s} {s:5.0f} | {ratio:15.3f} | {cosine(exact, paper):17.4f} | {rel:21.3f} | {radial}")
        # The exact gradient is the paper's, times 4, sent through the normalisation's backward.
        W_hat, ncache = normalize_forward(Ws, mode)
        assert gradcheck.rel_error(exact, normalize_backward(4 * paper, ncache)) < 1e-12
        assert cosine(exact, paper) > 0  # the paper's form still points downhill
        if mode == "none":
            assert abs(ratio - 4) < 1e-12 and abs(cosine(exact, paper) - 1) < 1e-12

# %%
# Reading the table:
#
# * ``"none"``: the exact gradient is exactly 4 times the paper's (cosine 1), at
#   any scale.
# * ``"column"`` and ``"frobenius"``: the directions differ substantially
#   (cosine well below 1), because the exact gradient has no radial component
#   (to first order, a step cannot change the norm it divides by), while the
#   paper's form has a large one (last column: the fraction of each gradient,
#   by norm, that points along the classifiers' own columns or matrices). The
#   sizes differ by the factor 4, by the radial part that the exact gradient
#   drops, and by the division by the norms: ten times larger classifiers get
#   a ten times smaller exact gradient, while the paper's form, computed on
#   :math:`\hat W_v`, does not change.
# * The cosine stays positive: the Jacobian's backward is a projection divided
#   by a positive norm, so :math:`\langle J^\top g, g\rangle \ge 0` and a step
#   along the paper's form still lowers :math:`D` to first order. It is a
#   descent direction, not the gradient.
#
# Gradient checks
# ---------------
#
# Finally, the finite-difference check of :math:`\partial D / \partial W_v`
# for each mode, of the normalisation's backward alone (a vector-Jacobian
# product with a random upstream gradient), and, as a contrast, of the
# paper's form used as if it were the gradient.

errors = {}
for mode in MODES:
    Wc = W_init.copy()

    def D_of_W():
        return hsic_diversity_forward(normalize_forward(Wc, mode)[0])[0]

    errors[f"exact, {mode}"] = gradcheck.check_function(
        D_of_W, {"W": Wc}, {"W": exact_gradient(Wc, mode)})["W"]
    errors[f"paper's form, {mode}"] = gradcheck.check_function(
        D_of_W, {"W": Wc}, {"W": paper_hsic_gradient(normalize_forward(Wc, mode)[0])})["W"]
for mode in ("column", "frobenius"):
    Wc = W_init.copy()
    g = rng.standard_normal(Wc.shape)
    _, ncache = normalize_forward(Wc, mode)
    errors[f"normalize_backward, {mode}"] = gradcheck.check_function(
        lambda: normalize_forward(Wc, mode)[0], {"W": Wc}, {"W": normalize_backward(g, ncache)}, dout=g)["W"]

for name, err in errors.items():
    print(f"relative error, {name:29s}: {err:.1e}")
    if name.startswith("paper"):
        assert err > 1e-2, (name, err)  # not the gradient of D
    else:
        assert err < SMOOTH, (name, err)

# %%
# Summary
# -------
#
# * HSIC measures dependence; with a linear kernel it is the squared norm of a
#   cross-covariance and sees only linear dependence.
# * Between two classifiers it is :math:`\lVert W_v H W_u^\top \rVert_F^2`:
#   zero when they use orthogonal class contrasts, largest for copies. The
#   paper's trace, the kernel form and emsm_np's
#   :math:`\lVert S\rVert_F^2 - \sum_v \lVert G_v\rVert_F^2` agree.
# * On the raw classifiers :math:`D` can be lowered by shrinking them; the
#   paper therefore measures it on normalised classifiers, without saying which
#   normalisation. emsm_np's ``"column"`` and ``"frobenius"`` remove the scale,
#   but not the shift :math:`W_v + c\mathbf{1}^\top`; ``normalize="centered"``
#   removes both.
# * The exact gradient is :math:`J_v^\top (4 \hat W_v M_v)`; the paper's
#   :math:`\lambda W_v K_v` misses the factor 4 and the Jacobian (if its authors
#   trained with it, their :math:`\lambda` is 4 times emsm_np's). Only the exact
#   one passes the finite-difference check.
#
# Next, tutorial 04 puts the pieces together: :math:`V` weak classifiers, each
# with a soft margin, plus :math:`\lambda D`.
