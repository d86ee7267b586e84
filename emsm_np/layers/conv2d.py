"""``Conv2d``: a 2-D convolution layer over :mod:`emsm_np.functional.conv2d`."""
import numpy as np

from .._checks import check_array, check_dtype, check_int
from ..ops import conv2d_backward, conv2d_forward
from ..functional.im2col import as_pair
from .base import Layer, default_rng
from .init import uniform_init


class Conv2d(Layer):
    """Cross-correlate (N, C, H, W) inputs with F learned (C, kh, kw) filters.

    Parameters
    ----------
    in_channels, out_channels : int >= 1 (C and F)
    kernel_size : int or pair (kh, kw), >= 1
    stride : int or pair, >= 1
    padding : int or pair, >= 0 (zeros on both sides)
    bias : bool, whether to learn an additive per-filter bias
    dtype : float32 (default) or float64
    rng : seed or numpy Generator; weight, then bias, are drawn on the CPU from
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C * kh * kw (PyTorch's default)

    Attributes
    ----------
    params["weight"] : (out_channels, in_channels, kh, kw)
    params["bias"] : (out_channels,), when ``bias`` is True
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 bias=True, dtype=np.float32, rng=None):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.kernel_size = as_pair("kernel_size", kernel_size, 1)
        self.stride = as_pair("stride", stride, 1)
        self.padding = as_pair("padding", padding, 0)
        self.input_grad = True  # set False to skip dL/dx (see backward)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        dtype = check_dtype("dtype", dtype)
        gen = default_rng(rng)
        kh, kw = self.kernel_size
        bound = 1.0 / np.sqrt(self.in_channels * kh * kw)
        shape = (self.out_channels, self.in_channels, kh, kw)
        self.params["weight"] = uniform_init(gen, bound, shape, dtype)
        if bias:
            self.params["bias"] = uniform_init(gen, bound, self.out_channels, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x, train=True):
        """(N, in_channels, H, W) -> (N, out_channels, Ho, Wo)."""
        check_array("x", x, ndim=4)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have in_channels={self.in_channels} channels (axis 1), "
                f"got shape {tuple(x.shape)}"
            )
        out, cache = conv2d_forward(x, self.params["weight"], self.params.get("bias"), self.stride, self.padding)
        # Only training needs the backward's cache; the GPU route's holds the whole im2col matrix, which for
        # an evaluation batch of 1,000 images is gigabytes per layer.
        self._cache = cache if train else None
        return out

    def backward(self, dy):
        """Fill ``grads`` (in place) and return dL/dx (N, in_channels, H, W).

        Returns None instead when ``self.input_grad`` is False (a network's
        first layer: the images need no gradient, as with PyTorch's
        ``requires_grad=False`` inputs).
        """
        dx, dweight, dbias = conv2d_backward(dy, self._require_cache(), need_dx=self.input_grad,
                                             out=(self.grads["weight"], self.grads.get("bias")))
        return self._finish_backward(dx, weight=dweight, bias=dbias)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={'bias' in self.params}"
        )
