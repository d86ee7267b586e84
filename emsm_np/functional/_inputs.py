"""The forward-input checks of the network ops, run once in :mod:`emsm_np.ops`.

The functional network ops (linear, conv2d, batch_norm, max_pool2d, relu, prelu)
and their fast CPU routes (:mod:`emsm_np.cpu`) compute and do not validate:
:mod:`emsm_np.ops` runs the check below, then dispatches to either route with the
normalised arguments (pairs, Python floats) it returns. A backward pass still
checks its ``dout`` (``check_like``) where it is computed. Dropout's forward has
no fast route and keeps its checks in :mod:`emsm_np.functional.dropout`.
"""
import numbers

from .._checks import check_array, check_float, check_same, check_same_device
from .im2col import as_pair

__all__ = ["check_linear_inputs", "check_relu_inputs", "check_prelu_inputs", "check_bn_inputs",
           "check_drop_probability", "check_dropout_inputs",
           "check_conv2d_inputs", "pool_params", "check_max_pool2d_inputs", "pair"]


def check_linear_inputs(x, weight, bias):
    check_array("weight", weight, ndim=2)
    check_array("x", x, ndim=2)
    d, K = weight.shape
    if x.shape[1] != d:
        raise ValueError(
            f"x must have {d} features (in_features) in dim 1, got shape {tuple(x.shape)}"
        )
    if bias is not None:
        check_array("bias", bias, ndim=1)
        if bias.shape != (K,):
            raise ValueError(f"bias must have shape ({K},) (out_features), got {tuple(bias.shape)}")
    check_same(("x", x), ("weight", weight), ("bias", bias))


def check_relu_inputs(x):
    check_array("x", x)


def check_prelu_inputs(x, weight):
    check_array("x", x)
    check_array("weight", weight, ndim=1)
    if weight.shape[0] < 1:
        raise ValueError("weight must hold at least one slope, got shape (0,)")
    check_same(("x", x), ("weight", weight))
    if weight.shape[0] != 1 and (x.ndim < 2 or x.shape[1] != weight.shape[0]):
        raise ValueError(
            f"x must have {weight.shape[0]} channels (num_parameters) in dim 1, "
            f"got shape {tuple(x.shape)}"
        )


def check_bn_inputs(x, gamma, beta, running_mean, running_var, train, momentum, eps):
    """Validate; return ``(momentum, eps)`` as Python floats."""
    check_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must be (N, C) or (N, C, H, W), got shape {tuple(x.shape)} ({x.ndim}-D)")
    C = x.shape[1]
    for name, a in (("gamma", gamma), ("beta", beta),
                    ("running_mean", running_mean), ("running_var", running_var)):
        check_array(name, a, ndim=1)
        if a.shape != (C,):
            raise ValueError(
                f"{name} must have shape ({C},) to match the {C} channels of x "
                f"(dim 1 of shape {tuple(x.shape)}), got {tuple(a.shape)}"
            )
    check_same(("x", x), ("gamma", gamma), ("beta", beta),
               ("running_mean", running_mean), ("running_var", running_var))
    if not isinstance(train, bool):
        raise TypeError(f"train must be True or False, got {train!r}")
    momentum = check_float("momentum", momentum, minimum=0.0, maximum=1.0)
    eps = check_float("eps", eps, minimum=0.0, min_inclusive=False)
    if train and x.size // C < 2:
        raise ValueError(
            f"batch norm in train mode needs more than 1 value per channel, got x of shape "
            f"{tuple(x.shape)}; use a larger batch or train=False"
        )
    return momentum, eps


def check_conv2d_inputs(x, weight, bias, stride, padding):
    """Validate the arguments of a convolution; return ``(stride, padding)`` as pairs."""
    stride = as_pair("stride", stride, 1)
    padding = as_pair("padding", padding, 0)
    check_array("x", x, ndim=4)
    check_array("weight", weight, ndim=4)
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"x has {x.shape[1]} channels (shape {tuple(x.shape)}) but weight expects "
            f"{weight.shape[1]} (shape {tuple(weight.shape)}); they must match"
        )
    if bias is not None:
        check_array("bias", bias, ndim=1)
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(
                f"bias must have shape ({weight.shape[0]},) to match weight's out "
                f"channels, got {tuple(bias.shape)}"
            )
    # One device and one dtype: NumPy would silently promote float32 x with a
    # float64 weight to a float64 output.
    check_same(("x", x), ("weight", weight), ("bias", bias))
    (H, W), (kh, kw) = x.shape[2:], weight.shape[2:]
    if H + 2 * padding[0] < kh or W + 2 * padding[1] < kw:
        raise ValueError(
            f"x's spatial size {(H, W)} with padding {padding} gives "
            f"{(H + 2 * padding[0], W + 2 * padding[1])}, smaller than the kernel {(kh, kw)}"
        )
    return stride, padding


def pool_params(kernel_size, stride, padding):
    """Check and normalise pooling hyper-parameters to pairs (PyTorch's limits)."""
    kernel_size = as_pair("kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None else as_pair("stride", stride, 1)
    padding = as_pair("padding", padding, 0)
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(
            f"padding must be at most half the kernel size {kernel_size} (so that every "
            f"window covers a real input element), got {padding}"
        )
    return kernel_size, stride, padding


def check_max_pool2d_inputs(x, kernel_size, stride, padding, ceil_mode):
    """Validate; return ``(kernel_size, stride, padding)`` as pairs."""
    check_array("x", x, ndim=4)
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    kernel_size, stride, padding = pool_params(kernel_size, stride, padding)
    (H, W), (kh, kw), (ph, pw) = x.shape[2:], kernel_size, padding
    if H + 2 * ph < kh or W + 2 * pw < kw:
        raise ValueError(
            f"x's spatial size {(H, W)} with padding {padding} is smaller than the "
            f"kernel {kernel_size}"
        )
    return kernel_size, stride, padding


def pair(value):
    """``value`` (an int, or a pair already) as a pair; unchecked: the checks above run first."""
    return (value, value) if isinstance(value, numbers.Integral) else tuple(value)


def check_drop_probability(p):
    """``p`` as a float in [0, 1), or a ValueError/TypeError naming it."""
    p = check_float("p", p, minimum=0.0)
    if p >= 1.0:
        raise ValueError(f"p must be in [0, 1) (the probability of dropping an entry), got {p}")
    return p


def check_dropout_inputs(x, mask, p):
    """Dropout's forward inputs: ``x`` and a ``mask`` of its shape on its device; ``p`` in [0, 1)."""
    check_array("x", x)
    check_array("mask", mask, floating=False)
    p = check_drop_probability(p)
    if tuple(mask.shape) != tuple(x.shape):
        raise ValueError(f"mask must have the shape of x {tuple(x.shape)}, got {tuple(mask.shape)}")
    check_same_device(("x", x), ("mask", mask))
    return p
