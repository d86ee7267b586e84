"""Sequential (and Flatten): chained gradients, params aliasing, checkpoints, container behaviour."""
import numpy as np
import pytest

from emsm_np.backend import asnumpy
from emsm_np.gradcheck import KINK, assert_layer_gradients
from emsm_np.layers.prelu import PReLU
from emsm_np.layers.relu import ReLU
from emsm_np.layers.batch_norm import BatchNorm1d
from emsm_np.layers.dropout import Dropout
from emsm_np.layers.flatten import Flatten
from emsm_np.layers.linear import Linear
from emsm_np.layers.sequential import Sequential

# Every test runs on the reference and the fast CPU routes.
pytestmark = pytest.mark.usefixtures("routes")


def small_net(seed=0, bias0=False):
    """Linear -> BN1d -> PReLU -> Linear in float64.

    The first Linear has no bias by default: batch norm subtracts the batch
    mean, so a bias before it has an exactly zero gradient (tested below) and
    a relative-error check on it would compare rounding noise with zero.
    """
    net = Sequential(
        Linear(5, 4, bias=bias0, dtype=np.float64, rng=seed),
        BatchNorm1d(4, dtype=np.float64),
        PReLU(4, dtype=np.float64),
        Linear(4, 3, dtype=np.float64, rng=seed + 1),
    )
    rng = np.random.default_rng(seed + 100)
    net.layers[1].params["weight"][...] = rng.uniform(0.5, 1.5, 4)
    net.layers[1].params["bias"][...] = rng.standard_normal(4)
    net.layers[1].buffers["running_mean"][...] = rng.standard_normal(4) * 0.1
    net.layers[1].buffers["running_var"][...] = rng.uniform(0.5, 2.0, 4)
    return net


def on(xp, net):
    return net.to("gpu") if xp is not np else net


@pytest.mark.parametrize("train", [True, False])
def test_linear_bn_prelu_linear_stack_gradients_match_finite_differences(xp, train):
    net = on(xp, small_net())
    x = xp.asarray(np.random.default_rng(1).standard_normal((6, 5)))
    # PReLU in the stack has a kink at 0; its inputs (after batch norm) are continuous
    # random values, far from 0 compared with eps = 1e-6.
    errors = assert_layer_gradients(net, x, train=train, seed=2, bound=KINK)
    assert list(errors) == ["x", "0.weight", "1.weight", "1.bias", "2.weight", "3.weight", "3.bias"]


def test_bias_before_train_mode_batchnorm_gets_zero_gradient():
    net = small_net(bias0=True)
    net.forward(np.random.default_rng(1).standard_normal((6, 5)), train=True)
    net.backward(np.random.default_rng(2).standard_normal((6, 3)))
    assert np.abs(net.grads["0.bias"]).max() < 1e-12


def test_flatten_then_linear_gradients_match_finite_differences(xp):
    net = on(xp, Sequential(Flatten(), Linear(12, 3, dtype=np.float64, rng=0)))
    x = xp.asarray(np.random.default_rng(3).standard_normal((2, 3, 2, 2)))
    assert_layer_gradients(net, x, seed=4)  # smooth: the SMOOTH bound


def test_flatten_keeps_batch_axis_and_backward_restores_shape():
    f = Flatten()
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    out = f.forward(x)
    np.testing.assert_array_equal(out, x.reshape(2, 12))
    assert f.backward(out).shape == (2, 3, 2, 2)
    with pytest.raises(ValueError, match=r"x must be at least 2-D \(N, \.\.\.\), got shape \(5,\)"):
        Flatten().forward(np.ones(5))


def test_params_dict_holds_the_layers_own_arrays():
    net = small_net()
    assert net.params["0.weight"] is net.layers[0].params["weight"]
    assert net.buffers["1.running_var"] is net.layers[1].buffers["running_var"]
    x = np.random.default_rng(1).standard_normal((6, 5))
    before = net.forward(x, train=False)
    net.params["0.weight"][...] *= 2.0
    np.testing.assert_array_equal(net.layers[0].params["weight"], net.params["0.weight"])
    assert not np.allclose(net.forward(x, train=False), before)


def test_an_in_place_update_through_named_parameters_reaches_the_layers():
    net = small_net()
    x = np.random.default_rng(1).standard_normal((6, 5))
    net.forward(x)
    net.backward(np.ones((6, 3)))
    expected = net.layers[3].params["weight"] - 0.1 * net.layers[3].grads["weight"]
    for _, p, g in net.named_parameters():
        p -= 0.1 * g
    np.testing.assert_allclose(net.layers[3].params["weight"], expected)


def test_zero_grad_zeroes_every_sub_layer_gradient():
    net = small_net()
    net.forward(np.random.default_rng(1).standard_normal((6, 5)))
    net.backward(np.ones((6, 3)))
    held = net.grads
    net.zero_grad()
    assert all(not g.any() for g in held.values())


def test_params_follow_the_layers_after_to_device(xp):
    net = small_net()
    net.to("gpu" if xp is not np else "cpu")
    assert all(type(v) is type(xp.ones(1)) for v in net.params.values())
    assert net.params["3.bias"] is net.layers[3].params["bias"]


def test_state_dict_round_trip_reproduces_the_eval_output():
    a = small_net(seed=0)
    rng = np.random.default_rng(5)
    for _ in range(3):  # move the running statistics away from their start
        a.forward(rng.standard_normal((6, 5)), train=True)
    state = a.state_dict()
    assert "0.params.weight" in state and "1.buffers.running_mean" in state
    b = small_net(seed=7)
    b.load_state_dict(state)
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(a.forward(x, train=False), b.forward(x, train=False))
    # A copy, not a view: changing a does not change the saved state.
    a.params["0.weight"][...] = 0
    assert state["0.params.weight"].any()


def test_load_state_dict_rejects_missing_and_unexpected_keys():
    state = small_net().state_dict()
    missing = {k: v for k, v in state.items() if k != "3.params.bias"}
    with pytest.raises(KeyError, match="state is missing 'params.bias' for Linear"):
        small_net().load_state_dict(missing)
    with pytest.raises(KeyError, match=r"match no layer of this Sequential: \['9.params.weight'\]"):
        small_net().load_state_dict({**state, "9.params.weight": np.zeros(1)})


def test_container_protocol_and_repr():
    net = Sequential(Linear(3, 2, rng=0), ReLU(), Dropout(0.1))
    assert len(net) == 3
    assert isinstance(net[1], ReLU)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Dropout"]
    assert isinstance(net[:2], Sequential) and net[:2][0] is net[0]
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=3, out_features=2, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.1)\n"
        ")"
    )


def test_nested_sequential_prefixes_keys_twice():
    net = Sequential(Sequential(Linear(3, 2, rng=0)), ReLU())
    assert list(net.params) == ["0.0.weight", "0.0.bias"]


def test_sequential_rejects_non_layers_and_a_list():
    with pytest.raises(TypeError, match=r"layers\[1\] must be a layer .* got int lacking forward"):
        Sequential(ReLU(), 3)
    with pytest.raises(TypeError, match=r"pass the layers as separate arguments: Sequential\(\*layers\)"):
        Sequential([ReLU()])


def test_sequential_to_rejects_unknown_device():
    with pytest.raises(ValueError, match="device must be 'cpu' or 'gpu', got 'tpu'"):
        small_net().to("tpu")


def test_forward_in_eval_mode_leaves_dropout_and_running_stats_alone():
    net = Sequential(Linear(4, 4, dtype=np.float64, rng=0), BatchNorm1d(4, dtype=np.float64), Dropout(0.5, rng=0))
    x = np.random.default_rng(1).standard_normal((3, 4))
    before = {k: v.copy() for k, v in net.buffers.items()}
    np.testing.assert_array_equal(net.forward(x, train=False), net.forward(x, train=False))
    for k, v in net.buffers.items():
        np.testing.assert_array_equal(asnumpy(v), before[k])
