"""Every fast GPU route (emsm_np.gpu) against its reference (emsm_np.functional), on the same inputs.

The route runs on CuPy arrays (real CuPy where there is a GPU, else the CuPy
double, installed here for these tests: they run in the default tier on every
commit), the reference on NumPy arrays; forward values and every gradient agree
in float64 (to rounding) and float32. On the double the fused kernels run as
their Python functions on NumPy; on a GPU the same tests compare CuPy's compiled
kernels with those functions' NumPy results. Then: the dispatcher sends CuPy
arrays to these routes, the operation budget of a training step (the double
counts a fused kernel as one operation), and a steady-state step makes no
transfer and no upload.
"""
import contextlib

import numpy as np
import pytest
from route_checks import DTYPES, data, same

from emsm_np import functional, gpu, ops
from emsm_np.backend import gpu_available
from emsm_np.functional import batch_norm, conv2d, max_pool2d, prelu, relu
from emsm_np.models import build_network
from emsm_np.optim import SGD

pytestmark = pytest.mark.gpu



@pytest.fixture(scope="module")
def cp():
    """Real CuPy on a GPU; otherwise the CuPy double, as ``cupy`` for this module's tests."""
    if gpu_available():
        import cupy

        yield cupy
        return
    from emsm_np.testing import cupy_double

    with cupy_double.installed() as double:
        yield double


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(16, 32, 14, 14), (5, 3, 7, 9), (7, 10)])
def test_relu_route_equals_the_reference(cp, shape, dtype):
    x, g = data(shape, dtype, 0), data(shape, dtype, 1)
    x[0, 0] = 0.0  # no gradient at 0, as the reference
    (out, cache), (ref_out, ref_cache) = gpu.relu.relu_forward(cp.asarray(x)), relu.relu_forward(x)
    same(out, ref_out, dtype)
    same(gpu.relu.relu_backward(cp.asarray(g), cache), relu.relu_backward(g, ref_cache), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, slopes", [
    ((16, 16, 14, 14), np.linspace(0.0, 1.0, 16)),
    ((5, 3, 7, 9), np.array([-0.3, 1.5, 0.2])),
    ((9, 4), np.array([0.25])),  # one shared slope
])
def test_prelu_route_equals_the_reference(cp, shape, slopes, dtype):
    x, g, a = data(shape, dtype, 2), data(shape, dtype, 3), slopes.astype(dtype)
    out, cache = gpu.prelu.prelu_forward(cp.asarray(x), cp.asarray(a))
    ref_out, ref_cache = prelu.prelu_forward(x, a)
    same(out, ref_out, dtype)
    for got, want in zip(gpu.prelu.prelu_backward(cp.asarray(g), cache), prelu.prelu_backward(g, ref_cache)):
        same(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(16, 32, 14, 14), (5, 3, 7, 9), (16, 10)])
def test_batch_norm_route_equals_the_reference(cp, shape, train, dtype):
    C = shape[1]
    x, g = data(shape, dtype, 8) * 3 + 1, data(shape, dtype, 9)
    gamma, beta = data((C,), dtype, 10), data((C,), dtype, 11)
    mean, var = data((C,), dtype, 12), np.abs(data((C,), dtype, 13)) + 0.5
    args = [cp.asarray(a) for a in (x, gamma, beta, mean, var)]
    ours = gpu.batch_norm.batch_norm_forward(*args, train, 0.1, 1e-5)
    ref = batch_norm.batch_norm_forward(x, gamma, beta, mean, var, train, 0.1, 1e-5)
    same(ours[0], ref[0], dtype)
    for got, want in zip(ours[2], ref[2]):  # the running statistics
        same(got, want, dtype)
    for got, want in zip(gpu.batch_norm.batch_norm_backward(cp.asarray(g), ours[1]),
                         batch_norm.batch_norm_backward(g, ref[1])):
        same(got, want, dtype)
    if train:  # the running statistics written into the buffers they were read from, as a layer asks
        buffers = (args[3].copy(), args[4].copy())
        _, _, running = gpu.batch_norm.batch_norm_forward(*args[:3], *buffers, True, 0.1, 1e-5, running_out=buffers)
        assert running.mean is buffers[0] and running.var is buffers[1]
        for got, want in zip(buffers, ref[2]):
            same(got, want, dtype)


# (N, C, H, W), (F, kh, kw), stride, padding: the networks' layers (LeNet's 1 -> 32 5x5 pad 2 and
# 32 -> 64 5x5, LiuNet's 64 -> 64 3x3 pad 1) and odd ones (strides, non-square, padding larger
# than the kernel allows in the flipped form's shortcut, C < F and C > F).
CONV_CASES = [
    ((4, 1, 28, 28), (32, 5, 5), 1, 2),
    ((4, 32, 14, 14), (64, 5, 5), 1, 2),
    ((3, 64, 14, 14), (64, 3, 3), 1, 1),
    ((3, 3, 9, 7), (8, 3, 2), (2, 1), (1, 0)),
    ((2, 12, 6, 8), (4, 3, 3), 2, 1),
    ((2, 5, 8, 8), (3, 2, 2), 3, 2),
    ((2, 4, 5, 5), (6, 1, 1), 1, 0),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("xshape, wshape, stride, padding", CONV_CASES)
def test_conv2d_route_equals_the_reference(cp, xshape, wshape, stride, padding, need_dx, dtype):
    x = data(xshape, dtype, 14)
    w = (data((wshape[0], xshape[1]) + wshape[1:], dtype, 15) / np.sqrt(xshape[1] * wshape[1] * wshape[2])).astype(dtype)
    b = data(wshape[:1], dtype, 16)
    out, cache = gpu.conv2d.conv2d_forward(cp.asarray(x), cp.asarray(w), cp.asarray(b), _pair(stride), _pair(padding))
    ref_out, ref_cache = conv2d.conv2d_forward(x, w, b, stride, padding)
    same(out, ref_out, dtype)
    g = data(ref_out.shape, dtype, 17)
    for got, want in zip(gpu.conv2d.conv2d_backward(cp.asarray(g), cache, need_dx),
                         conv2d.conv2d_backward(g, ref_cache, need_dx)):
        same(got, want, dtype)


def test_layers_whose_padded_buffers_have_one_size_but_other_contents_do_not_share_them(cp):
    """dout of a 5x5 output (3x3, padding 1, on 5x5) and of a 4x4 one (3x3, no padding, on 6x6) are both spread
    in an 8x8 buffer for dx; the second must not see the first's last row."""
    cases = [((2, 3, 5, 5), 1), ((2, 3, 6, 6), 0)]
    w = data((3, 3, 3, 3), np.float64, 40)
    results = []
    for xshape, padding in cases + cases:  # twice, so each reuses what the other left
        x = data(xshape, np.float64, 41)
        out, cache = gpu.conv2d.conv2d_forward(cp.asarray(x), cp.asarray(w), None, (1, 1), (padding, padding))
        g = data(out.shape, np.float64, 42)
        dx = gpu.conv2d.conv2d_backward(cp.asarray(g), cache)[0]
        _, ref_cache = conv2d.conv2d_forward(x, w, None, 1, padding)
        same(dx, conv2d.conv2d_backward(g, ref_cache)[0], np.float64)
        results.append(dx.get())
    np.testing.assert_array_equal(results[0], results[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, ceil_mode", [((16, 32, 28, 28), True), ((5, 3, 7, 9), True),
                                              ((5, 3, 7, 9), False), ((2, 2, 6, 4), False)])
def test_max_pool_route_equals_the_reference_with_ties(cp, shape, ceil_mode, dtype):
    x = np.random.default_rng(18).integers(-2, 3, shape).astype(dtype)  # many ties: the first maximum wins
    out, cache = gpu.max_pool2d.max_pool2d_forward(cp.asarray(x), (2, 2), (2, 2), (0, 0), ceil_mode)
    ref_out, ref_cache = max_pool2d.max_pool2d_forward(x, 2, 2, 0, ceil_mode)
    same(out, ref_out, dtype)
    g = data(ref_out.shape, dtype, 19)
    same(gpu.max_pool2d.max_pool2d_backward(cp.asarray(g), cache), max_pool2d.max_pool2d_backward(g, ref_cache), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("V, margin", [(1, 0.0), (2, 0.3), (3, 1.5)])
def test_weak_cross_entropies_on_the_gpu_equal_one_reference_call_per_classifier(cp, V, margin, dtype):
    Z = data((V, 12, 7), dtype, 25) * 4
    y = np.random.default_rng(26).integers(0, 7, 12)
    ce, cache = gpu.margin_cross_entropy.weak_cross_entropy_forward(cp.asarray(Z), cp.asarray(y), margin)
    ref = [functional.margin_cross_entropy.margin_cross_entropy_forward(z, y, margin) for z in Z]
    same(ce, np.stack([loss for loss, _ in ref]), dtype)
    for dloss in (1.0, 0.5):
        dZ = gpu.margin_cross_entropy.weak_cross_entropy_backward(dloss, cache)
        same(dZ, np.stack([functional.margin_cross_entropy.margin_cross_entropy_backward(dloss, c)
                           for _, c in ref]), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["column", "frobenius", "centered"])
@pytest.mark.parametrize("V", [1, 2, 4])
def test_normalisation_and_hsic_on_the_gpu_equal_the_reference(cp, V, mode, dtype):
    W = data((V, 9, 6), dtype, 32)
    W[0, :, 1] = 0.0  # a zero column: the clamp of the column norm, and its gradient g / eps
    g = data(W.shape, dtype, 33)
    w_hat, ncache = gpu.hsic.normalize_forward(cp.asarray(W), mode)
    ref_w_hat, ref_ncache = functional.normalize.normalize_forward(W, mode)
    same(w_hat, ref_w_hat, dtype)
    same(gpu.hsic.normalize_backward(cp.asarray(g), ncache), functional.normalize.normalize_backward(g, ref_ncache),
         dtype)
    D, hcache = gpu.hsic.hsic_diversity_forward(w_hat)
    ref_D, ref_hcache = functional.hsic.hsic_diversity_forward(ref_w_hat)
    same(D, np.asarray(ref_D, dtype=dtype), dtype)  # sum_v <G_v, S - G_v>: the pairs' sum, reordered
    for got, want in zip(hcache, ref_hcache):
        same(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight_decay", [0.0, 5e-4])
def test_the_fused_sgd_update_equals_the_reference_lines(cp, weight_decay, dtype):
    w, v, g = data((6, 5), dtype, 27), data((6, 5), dtype, 28), data((6, 5), dtype, 29)
    dw, dv = cp.asarray(w), cp.asarray(v)
    gpu.sgd.sgd_update(dw, dv, cp.asarray(g), 0.1, 0.9, weight_decay)
    g_ref = g + weight_decay * w if weight_decay else g
    v_ref = v * dtype(0.9) + g_ref
    same(dv, v_ref, dtype)
    same(dw, w - dtype(0.1) * v_ref, dtype)


def test_the_dispatcher_sends_cupy_arrays_to_the_gpu_routes_and_back_to_the_reference_when_asked(cp):
    x, w = cp.asarray(data((2, 3, 8, 8), np.float64, 20)), cp.asarray(data((4, 3, 3, 3), np.float64, 21))
    a, gamma = cp.asarray(np.full(3, 0.25)), cp.asarray(np.ones(3))
    assert isinstance(ops.conv2d_forward(x, w, None, 1, 1)[1], gpu.conv2d.GpuConv2dCache)
    assert isinstance(ops.max_pool2d_forward(x, 2)[1], gpu.max_pool2d.GpuPoolCache)
    assert isinstance(ops.max_pool2d_forward(x, 3, 1, 1)[1], functional.max_pool2d.MaxPool2dCache)  # no fast route
    assert isinstance(ops.relu_forward(x)[1], gpu.relu.GpuReluCache)
    assert isinstance(ops.prelu_forward(x, a)[1], gpu.prelu.GpuPReluCache)
    assert isinstance(ops.weak_cross_entropy_forward(x[:1, 0], cp.asarray(np.zeros(8, dtype=np.int64)))[1],
                      gpu.margin_cross_entropy.GpuWeakCECache)
    with ops.reference_routes():
        assert isinstance(ops.conv2d_forward(x, w, None, 1, 1)[1], functional.conv2d.Conv2dCache)
        assert isinstance(ops.max_pool2d_forward(x, 2)[1], functional.max_pool2d.MaxPool2dCache)
        assert isinstance(ops.relu_forward(x)[1], functional.relu.ReluCache)
        assert isinstance(ops.prelu_forward(x, a)[1], functional.prelu.PReluCache)
        out, cache, _ = ops.batch_norm_forward(x, gamma, gamma * 0, gamma * 0, gamma, True)
        assert isinstance(ops.weak_cross_entropy_forward(x[:1, 0], cp.asarray(np.zeros(8, dtype=np.int64)))[1], list)


def _step(cp, name, batch, seed=0):
    net = build_network(name, num_classes=10, ensemble=2, margin=0.3, lam=0.01, normalize="column", seed=seed).to("gpu")
    opt = SGD(net, lr=0.01, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
    rng = np.random.default_rng(seed)
    x, y = cp.asarray(rng.random((batch, 1, 28, 28), dtype=np.float32)), cp.asarray(rng.integers(0, 10, batch))

    def step():
        loss = net.loss(x, y)
        net.backward()
        opt.step()
        return loss

    return step


# The budgets of issue 23: array operations (kernel launches) of one training step at batch 128,
# fast routes on, EM-Softmax V=2, SGD included. docs/results/gpu_ops.md has them per layer. The count
# does not depend on the batch (no route loops over images), so the test counts a batch of 16: the
# same number, in a tenth of the time.
BUDGETS = {"lenet": 120, "liunet-mnist": 300}


@pytest.mark.parametrize("name", BUDGETS)
def test_a_training_step_keeps_its_operation_budget_and_makes_no_transfer_or_upload(cp, name):
    if not hasattr(cp, "counting"):
        pytest.skip("real CuPy does not count operations; the double does")
    step = _step(cp, name, 16)
    step()  # the first step uploads the gather indices and builds the kernels
    with cp.counting() as c:
        step()
    assert (c.transfers, c.uploads) == (0, 0), dict(c.transfer_sites)
    assert c.operations <= BUDGETS[name]


def test_a_training_step_on_the_fast_gpu_routes_equals_the_reference_routes(cp):
    """lenet and liunet-mnist in float64: the loss and every gradient of one step, fast against reference."""
    for name in ("lenet", "liunet-mnist"):
        results = []
        for fast in (True, False):
            net = build_network(name, num_classes=10, ensemble=2, margin=0.3, lam=0.01, normalize="column",
                                seed=1, dtype=np.float64).to("gpu")
            rng = np.random.default_rng(2)
            x, y = cp.asarray(rng.random((6, 1, 28, 28))), cp.asarray(rng.integers(0, 10, 6))
            with ops.reference_routes() if not fast else contextlib.nullcontext():
                loss = net.loss(x, y)
                net.backward()
            results.append((float(loss), {k: g.get() for k, g in net.grads.items()}))
        (fast_loss, fast_grads), (ref_loss, ref_grads) = results
        assert fast_loss == pytest.approx(ref_loss, rel=1e-12)
        assert fast_grads.keys() == ref_grads.keys()
        for k in ref_grads:
            scale = max(1e-300, float(np.abs(ref_grads[k]).max()))
            assert float(np.abs(fast_grads[k] - ref_grads[k]).max()) <= 1e-10 * scale, k



def _net_and_data(cp, seed=3):
    net = build_network("lenet", num_classes=10, ensemble=2, margin=0.3, lam=0.01, normalize="column",
                        seed=seed, dtype=np.float64, width=8).to("gpu")
    rng = np.random.default_rng(seed)
    return net, cp.asarray(rng.random((5, 1, 28, 28))), cp.asarray(rng.integers(0, 10, 5))


def _train(net, opt, x, y, steps):
    for _ in range(steps):
        net.loss(x, y)
        net.backward()
        opt.step()


def test_sgd_over_flat_buffers_equals_the_reference_update_and_survives_moves_and_checkpoints(cp):
    """Three steps with the flat buffers against three on the reference routes (per-parameter
    lines); then the model moved to the CPU and back (the buffers are laid out again) and an
    optimiser restored from a checkpoint continue the same trajectory."""
    nets = []
    for fast in (True, False):
        net, x, y = _net_and_data(cp)
        opt = SGD(net, lr=0.05, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
        with contextlib.nullcontext() if fast else ops.reference_routes():
            _train(net, opt, x, y, 3)
        nets.append((net, opt))
    (fast_net, fast_opt), (ref_net, ref_opt) = nets
    assert fast_opt._flat is not None and ref_opt._flat is None
    for k, w in ref_net.params.items():  # the routes add in other orders: float64 rounding, not more
        close(fast_net.params[k], w)
        close(fast_opt.velocity[k], ref_opt.velocity[k])
    flat = fast_opt._flat
    assert all(fast_net.params[k] is w for k, (w, _, _) in flat.views.items())
    fast_net.to("cpu").to("gpu")  # new arrays: the optimiser lays the buffers out again at its next step
    restored = SGD(fast_net, lr=0.05, momentum=0.9, weight_decay=5e-4, no_decay=fast_net.no_decay())
    restored.load_state_dict(fast_opt.state_dict())
    _train(fast_net, restored, x, y, 2)
    assert restored._flat is not None and restored._flat is not flat
    with ops.reference_routes():
        _train(ref_net, ref_opt, x, y, 2)
    for k, w in ref_net.params.items():
        close(fast_net.params[k], w)


def close(got, want):
    """Equal to float64 rounding, relative to the array's largest entry."""
    got, want = got.get(), want.get()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * float(np.abs(want).max()))


def test_sgd_built_from_two_dicts_updates_each_parameter_with_its_own_kernel(cp):
    w, g = cp.asarray(data((4, 3), np.float64, 30)), cp.asarray(data((4, 3), np.float64, 31))
    opt = SGD({"w": w}, {"w": g}, lr=0.1, momentum=0.9, weight_decay=0.0)
    before = w.get()
    opt.step()
    assert opt._flat is None
    np.testing.assert_allclose(w.get(), before - 0.1 * g.get(), rtol=1e-13)


def test_an_evaluation_forward_keeps_no_im2col_matrix(cp):
    """The GPU convolution keeps Col for its backward; a forward at train=False (evaluation, batches of
    1,000 images) must not hold it, or a GPU would keep gigabytes per layer."""
    from emsm_np.layers import Conv2d

    net, x, _ = _net_and_data(cp)
    net.features.forward(x, train=False)
    convs = [layer for layer in net.features.layers if isinstance(layer, Conv2d)]
    assert convs and all(layer._cache is None for layer in convs)
    net.features.forward(x, train=True)
    assert all(isinstance(layer._cache, gpu.conv2d.GpuConv2dCache) for layer in convs)
