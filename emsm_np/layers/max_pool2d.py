"""``MaxPool2d``: max-pooling over :mod:`emsm_np.functional.max_pool2d` (no parameters)."""
from ..functional.max_pool2d import pool_params
from ..ops import max_pool2d_backward, max_pool2d_forward
from .base import Layer


class MaxPool2d(Layer):
    """Max over (kh, kw) windows of (N, C, H, W) inputs, with PyTorch's semantics.

    Parameters
    ----------
    kernel_size : int or pair (kh, kw), >= 1
    stride : int, pair, or None (the default: equal to ``kernel_size``)
    padding : int or pair, at most half the kernel (pads with -inf)
    ceil_mode : bool; round the output size up (LiuNet: 7x7 -> 4x4 with kernel 2,
        stride 2)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        if not isinstance(ceil_mode, bool):
            raise TypeError(f"ceil_mode must be True or False, got {ceil_mode!r}")
        self.kernel_size, self.stride, self.padding = pool_params(kernel_size, stride, padding)
        self.ceil_mode = ceil_mode

    def forward(self, x, train=True):
        """(N, C, H, W) -> (N, C, Ho, Wo)."""
        out, self._cache = max_pool2d_forward(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode
        )
        return out

    def backward(self, dy):
        """dL/dx (N, C, H, W): each window's gradient goes to its maximum."""
        dx = max_pool2d_backward(dy, self._require_cache())
        self._cache = None
        return dx

    def extra_repr(self):
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, ceil_mode={self.ceil_mode}"
        )
