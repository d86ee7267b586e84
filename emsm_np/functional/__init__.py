"""Stateless forward/backward pairs, one operation per file.

Each ``*_forward`` returns ``(out, cache)`` and each ``*_backward`` takes the
upstream gradient and that cache, ``(dout, cache)``. The array module is taken from
the inputs, so every pair runs on NumPy and on CuPy. The module docstrings hold the
derivations, with the paper's equation numbers where there is one.

Checks. The loss parts (margin_cross_entropy, normalize, hsic, hinge, center_loss,
angular_margin, large_margin_logits, l_softmax, a_softmax, n_softmax) check nothing: the
heads and the public ``*_loss`` functions of :mod:`emsm_np.losses` check the data once,
where it enters. The operations of the network (linear, conv2d, max_pool2d, batch_norm,
relu, prelu, dropout) are where :mod:`emsm_np.ops` hands the layers' data on, to them or to
the fast CPU routes of :mod:`emsm_np.cpu`: :mod:`emsm_np.ops` checks their forward inputs
once, for both routes (the checks are in ``functional/_inputs.py``), and each backward checks
its upstream gradient against the forward's (:func:`emsm_np._checks.check_like`).
"""
