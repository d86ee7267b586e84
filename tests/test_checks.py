"""Every op refuses inputs of two dtypes or on two devices, naming both arguments.

A dtype mix would otherwise be promoted silently (float32 x with a float64 weight
gives a float64 output), and a device mix fails deep inside NumPy or CuPy with a
message that names neither argument. The device tests run on every machine: a
stand-in ``cupy`` module whose ``ndarray`` is a NumPy subclass makes an array
look like a GPU array to :func:`emsm_np.backend.device_of`, as a real CuPy array
would; the check reads the type only and fails before any computation.
"""
import sys
import types

import numpy as np
import pytest

from emsm_np import ops
from emsm_np._checks import check_same, check_same_device
from emsm_np.functional.batch_norm import batch_norm_backward, batch_norm_forward
from emsm_np.functional.conv2d import conv2d_backward, conv2d_forward
from emsm_np.functional.dropout import dropout_backward, dropout_forward
from emsm_np.functional.linear import linear_backward, linear_forward
from emsm_np.functional.max_pool2d import max_pool2d_backward, max_pool2d_forward
from emsm_np.functional.prelu import prelu_backward, prelu_forward
from emsm_np.functional.relu import relu_backward, relu_forward
from emsm_np.losses import EMSoftmax, em_softmax_loss, ensemble_logits, hinge_loss, weak_logits

R = np.random.default_rng(0)


def a64(*shape):
    return R.standard_normal(shape)


def a32(*shape):
    return a64(*shape).astype(np.float32)


# name -> (a call mixing float32 and float64, the two names the message must hold)
DTYPE_MIXES = {
    "conv2d x/weight": (lambda: ops.conv2d_forward(a32(1, 2, 5, 5), a64(3, 2, 3, 3), a32(3)), "x", "weight"),
    "conv2d x/bias": (lambda: ops.conv2d_forward(a32(1, 2, 5, 5), a32(3, 2, 3, 3), a64(3)), "x", "bias"),
    "linear x/weight": (lambda: ops.linear_forward(a32(2, 3), a64(3, 4)), "x", "weight"),
    "linear x/bias": (lambda: ops.linear_forward(a32(2, 3), a32(3, 4), a64(4)), "x", "bias"),
    "prelu x/weight": (lambda: ops.prelu_forward(a32(2, 3, 2, 2), np.full(3, 0.25)), "x", "weight"),
    "batch_norm x/gamma": (lambda: ops.batch_norm_forward(a32(4, 3), np.ones(3), np.zeros(3, np.float32),
                                                      np.zeros(3, np.float32), np.ones(3, np.float32)), "x", "gamma"),
    "batch_norm x/running_var": (lambda: ops.batch_norm_forward(a32(4, 3), np.ones(3, np.float32), np.zeros(3, np.float32),
                                                            np.zeros(3, np.float32), np.ones(3)), "x", "running_var"),
    "em_softmax_loss x/W": (lambda: em_softmax_loss(a32(4, 3), a64(2, 3, 5), np.array([0, 1, 2, 3])), "x", "W"),
    "weak_logits x/W": (lambda: weak_logits(a32(4, 3), a64(2, 3, 5)), "x", "W"),
    "ensemble_logits x/W": (lambda: ensemble_logits(a32(4, 3), a64(2, 3, 5)), "x", "W"),
    "EMSoftmax.forward x/W": (lambda: EMSoftmax(3, 5, dtype=np.float32).forward(a64(4, 3), np.array([0, 1, 2, 3])),
                              "x", "W"),
}


@pytest.mark.parametrize("op", DTYPE_MIXES)
def test_every_op_rejects_a_float32_float64_mix_naming_both_arguments(op):
    call, first, second = DTYPE_MIXES[op]
    with pytest.raises(TypeError) as info:
        call()
    message = str(info.value)
    assert f"{first} has dtype" in message and f"but {second} has dtype" in message, message
    assert "float32" in message and "float64" in message, message


# ---------------------------------------------------------------- devices


class _GpuArray(np.ndarray):
    """A NumPy array that the stand-in ``cupy`` module calls its own."""


@pytest.fixture
def fake_gpu(monkeypatch):
    """``to_gpu(a)``: ``a`` as an array that ``device_of`` reports on the gpu."""
    fake = types.ModuleType("cupy")
    fake.ndarray = _GpuArray
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return lambda a: np.asarray(a).view(_GpuArray)


def _caches():
    x4 = a64(2, 3, 4, 4)
    return {
        "relu": relu_forward(x4)[1],
        "pool": max_pool2d_forward(x4, 2)[1],
        "pool3": max_pool2d_forward(x4, 3, 1)[1],
        "conv": conv2d_forward(x4, a64(2, 3, 3, 3), a64(2))[1],
        "linear": linear_forward(a64(2, 3), a64(3, 4))[1],
        "prelu": prelu_forward(x4, np.full(3, 0.25))[1],
        "bn": batch_norm_forward(a64(4, 3), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))[1],
        "dropout": dropout_forward(a64(2, 3), np.ones((2, 3), bool), 0.5)[1],
    }


def _head_after_forward():
    """An EM-Softmax head (V = 2, lam > 0: the HSIC term too) waiting for its backward."""
    head = EMSoftmax(3, 5, ensemble=2, lam=0.1, dtype=np.float64, rng=0)
    head.forward(a64(4, 3), np.array([0, 1, 2, 3]))
    return head


# name -> (call given the caches and to_gpu, the two names the message holds)
DEVICE_MIXES = {
    "conv2d forward": (lambda c, g: ops.conv2d_forward(a64(1, 2, 5, 5), g(a64(3, 2, 3, 3))), "x", "weight"),
    "linear forward": (lambda c, g: ops.linear_forward(a64(2, 3), a64(3, 4), g(a64(4))), "x", "bias"),
    "prelu forward": (lambda c, g: ops.prelu_forward(a64(2, 3), g(np.full(3, 0.25))), "x", "weight"),
    "batch_norm forward": (lambda c, g: ops.batch_norm_forward(a64(4, 3), np.ones(3), g(np.zeros(3)),
                                                           np.zeros(3), np.ones(3)), "x", "beta"),
    "dropout forward": (lambda c, g: ops.dropout_forward(a64(2, 3), g(np.ones((2, 3), bool)), 0.5), "x", "mask"),
    "hinge_loss labels": (lambda c, g: hinge_loss(a64(3, 4), a64(4, 5), g(np.array([0, 1, 2]))), "x", "y"),
    "em_softmax_loss": (lambda c, g: em_softmax_loss(a64(4, 3), g(a64(2, 3, 5)), np.array([0, 1, 2, 3])), "x", "W"),
    "em_softmax_loss labels": (lambda c, g: em_softmax_loss(a64(4, 3), a64(2, 3, 5), g(np.array([0, 1, 2, 3]))),
                               "x", "y"),
    "relu backward": (lambda c, g: relu_backward(g(a64(2, 3, 4, 4)), c["relu"]), "dout", "x"),
    "max_pool2d backward (2x2)": (lambda c, g: max_pool2d_backward(g(a64(2, 3, 2, 2)), c["pool"]), "dout", "x"),
    "max_pool2d backward (im2col)": (lambda c, g: max_pool2d_backward(g(a64(2, 3, 2, 2)), c["pool3"]), "dout", "x"),
    "conv2d backward": (lambda c, g: conv2d_backward(g(a64(2, 2, 2, 2)), c["conv"]), "dout", "x"),
    "linear backward": (lambda c, g: linear_backward(g(a64(2, 4)), c["linear"]), "dout", "x"),
    "prelu backward": (lambda c, g: prelu_backward(g(a64(2, 3, 4, 4)), c["prelu"]), "dout", "x"),
    "batch_norm backward": (lambda c, g: batch_norm_backward(g(a64(4, 3)), c["bn"]), "dout", "x"),
    "dropout backward": (lambda c, g: dropout_backward(g(a64(2, 3)), c["dropout"]), "dout", "mask"),
    "EMSoftmax.backward": (lambda c, g: _head_after_forward().backward(g(np.array(1.0))), "dloss", "weight"),
}


@pytest.mark.parametrize("op", DEVICE_MIXES)
def test_every_op_rejects_arrays_on_two_devices_naming_both_arguments(op, fake_gpu):
    caches = _caches()
    call, first, second = DEVICE_MIXES[op]
    with pytest.raises(TypeError) as info:
        call(caches, fake_gpu)
    message = str(info.value)
    assert f"{first} is on the " in message and f"but {second} is on the " in message, message
    assert "cpu" in message and "gpu" in message, message


def test_check_same_names_the_arguments_and_suggests_a_conversion():
    with pytest.raises(TypeError, match=r"x has dtype float32 but weight has dtype float64; .*x\.astype\(weight\.dtype\)"):
        check_same(("x", a32(2)), ("weight", a64(2)))


def test_check_same_skips_an_absent_bias_and_host_scalars():
    check_same(("x", a32(2)), ("bias", None), ("dloss", 1.0), ("scale", np.float64(2.0)))


def test_check_same_rejects_a_list_naming_it():
    with pytest.raises(TypeError, match="weight must be a NumPy or CuPy array, got list"):
        check_same(("x", a64(2)), ("weight", [1.0, 2.0]))


def test_device_check_says_which_argument_is_on_which_device(fake_gpu):
    with pytest.raises(TypeError, match="x is on the gpu but weight is on the cpu"):
        check_same_device(("x", fake_gpu(a64(2))), ("weight", a64(2)))


class _NoCupy:
    """A meta-path finder that fails the test if anything imports cupy."""

    def find_spec(self, name, path=None, target=None):
        if name == "cupy" or name.startswith("cupy."):
            raise AssertionError("the device check imported cupy")
        return None


def test_device_check_never_imports_cupy(monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoCupy()] + sys.meta_path)
    check_same(("x", a64(2)), ("weight", a64(2)))
    linear_forward(a64(2, 3), a64(3, 4), a64(4))
    assert "cupy" not in sys.modules
