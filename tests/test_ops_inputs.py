"""emsm_np.ops checks the network operations' forward inputs once, for both routes, naming the
argument (the refusals the fast tier's mutation re-score found untested; docs/results/mutation.md)."""
import numpy as np
import pytest

from emsm_np import ops


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.conv2d_forward(np.zeros((2, 3, 4)), np.zeros((4, 3, 3, 3))), ValueError,
     r"^x must be 4-D, got shape \(2, 3, 4\)"),
    (lambda: ops.max_pool2d_forward(np.zeros((1, 1, 4, 4)), 2, 2, "a"), TypeError,
     r"^padding must be an int or a pair of ints, got 'a'"),
    (lambda: ops.batch_norm_forward(np.zeros((4, 3)), np.ones(3), np.zeros(3), np.zeros(3, np.float32),
                                    np.ones(3)), TypeError, r"but running_mean has dtype float32"),
])
def test_ops_refuse_a_bad_forward_input_naming_it_on_either_route(call, error, message, fast):
    before = ops.fast_routes_enabled()
    ops.set_fast_routes(fast)
    try:
        with pytest.raises(error, match=message):
            call()
    finally:
        ops.set_fast_routes(before)
