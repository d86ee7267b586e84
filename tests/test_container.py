"""The one container (layers/base.py): children's keys, device moves and checkpoints at every level."""
import numpy as np
import pytest

from emsm_np.layers import Layer, Linear, ReLU, Sequential
from emsm_np.losses import CenterLoss, EMSoftmax, LSoftmax, NSoftmax
from emsm_np.losses.head import Head
from emsm_np.losses.linear_head import LinearHead
from emsm_np.models import Network, build_network


class Scaled(Layer):
    """A layer with an array of its own and a child: y = s * body(x)."""

    def __init__(self, body):
        super().__init__()
        self.body = body
        # It has children: its own arrays are set as whole dicts (see layers/base.py).
        self.params = {"s": np.array(2.0)}
        self.grads = {"s": np.zeros(())}
        self.buffers = {"calls": np.zeros((), np.int64)}

    def named_children(self):
        return [("body", self.body)]


def test_keys_are_the_own_ones_then_each_childs_under_its_name():
    layer = Scaled(Sequential(Linear(3, 2, rng=0), ReLU()))
    assert list(layer.params) == ["s", "body.0.weight", "body.0.bias"]
    assert list(layer.grads) == list(layer.params)
    assert list(layer.buffers) == ["calls"]
    assert list(layer.state_dict()) == ["params.s", "buffers.calls", "body.0.params.weight", "body.0.params.bias"]
    # The values are the children's own arrays: an update through the parent reaches the child.
    layer.params["body.0.weight"][...] = 7
    assert (layer.body[0].params["weight"] == 7).all()
    layer.grads["body.0.bias"][...] = 1
    layer.zero_grad()
    assert not layer.body[0].grads["bias"].any() and not layer.grads["s"].any()


def test_a_leaf_returns_its_own_dicts_and_a_container_a_fresh_one():
    lin = Linear(3, 2, rng=0)
    assert lin.params is lin.params and lin.params is lin._own_params
    net = Sequential(lin)
    assert net.params is not net.params


def test_state_round_trip_and_refusals_name_the_key_at_its_level():
    a, b = Scaled(Sequential(Linear(3, 2, rng=0))), Scaled(Sequential(Linear(3, 2, rng=1)))
    a.params["s"][...] = 5
    state = a.state_dict()
    b.load_state_dict(state)
    assert all(np.array_equal(v, b.state_dict()[k]) for k, v in state.items())
    with pytest.raises(KeyError, match=r"Scaled does not have: \['params.t'\]"):
        b.load_state_dict({**state, "params.t": np.zeros(())})
    with pytest.raises(KeyError, match=r"state is missing 'params.s' for Scaled"):
        b.load_state_dict({k: v for k, v in state.items() if k != "params.s"})
    with pytest.raises(KeyError, match=r"match no layer of this Sequential: \['1.params.weight'\]"):
        b.load_state_dict({**state, "body.1.params.weight": np.zeros(1)})
    with pytest.raises(KeyError, match=r"state is missing 'params.bias' for Linear"):
        b.load_state_dict({k: v for k, v in state.items() if k != "body.0.params.bias"})
    with pytest.raises(ValueError, match=r"state\['params.s'\] has shape \(1,\), expected \(\) for Scaled"):
        b.load_state_dict({**state, "params.s": np.zeros(1)})


def test_to_checks_the_device_once_for_every_kind_of_layer():
    for layer in (ReLU(), Sequential(), Scaled(ReLU()), build_network("lenet", feature_dim=4, width=2)):
        with pytest.raises(ValueError, match="device must be 'cpu' or 'gpu', got 'tpu'"):
            layer.to("tpu")
        assert layer.to("cpu") is layer


def test_sequential_and_network_are_layers_whose_children_are_named_as_their_keys():
    net = build_network("lenet", num_classes=10, feature_dim=4, width=2)
    assert isinstance(net, Layer) and isinstance(net.features, Layer)
    assert [name for name, _ in net.named_children()] == ["features", "head"]
    assert [name for name, _ in net.features.named_children()] == [str(i) for i in range(len(net.features))]
    assert "features.0.weight" in net.params and "head.weight" in net.params
    assert "features.0.params.weight" in net.state_dict() and "head.params.weight" in net.state_dict()


@pytest.mark.parametrize("head", [EMSoftmax(4, 3, ensemble=2, rng=0), LSoftmax(4, 3, rng=0),
                                  CenterLoss(4, 3, rng=0), NSoftmax(4, 3, learn_scale=True, rng=0)])
def test_every_head_is_one_head_base_and_a_network_takes_it(head):
    assert isinstance(head, Head)
    assert isinstance(head, LinearHead) == (not isinstance(head, EMSoftmax))
    net = Network(Sequential(Linear(5, 4, rng=0)), head)
    x, y = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32), np.arange(6) % 3
    float(net.loss(x, y))
    net.backward()
    assert set(net.grads) == set(net.params)
    assert net.logits(x).shape == (6, 3) and net.weak_logits(x).shape == (head.ensemble, 6, 3)
    assert head.predict(net.embed(x)).shape == (6,)
