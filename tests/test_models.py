"""The networks: shapes, sizes quoted by the paper, and an end-to-end gradient check."""
import numpy as np
import pytest

from emsm_np import gradcheck
from emsm_np.layers.conv2d import Conv2d
from emsm_np.layers.max_pool2d import MaxPool2d
from emsm_np.models import LIUNET, NETWORKS, build_network
from emsm_np.optim import SGD, step_lr
from emsm_np.training.info import size_mb


@pytest.mark.parametrize("ensemble,paper_mb", [(1, 15.1), (2, 15.2)])
def test_liunet_cifar10_with_fc256_is_the_15_1_mb_softmax_and_15_2_mb_em_softmax_model_of_table_3(
        ensemble, paper_mb):
    net = build_network("liunet-cifar10", num_classes=10, feature_dim=256, ensemble=ensemble)
    # every float32 parameter, in MB (10^6 bytes), as `emsm info` counts (tests/test_info.py
    # checks the other rows of Table 3); counting only the weight matrices gives 15.13 for V = 2
    mb = size_mb(net.num_parameters())
    assert round(mb, 1) == paper_mb, mb


@pytest.mark.parametrize("name", sorted(LIUNET))
def test_liunet_feature_shapes(name):
    cfg = LIUNET[name]
    net = build_network(name, num_classes=10, feature_dim=7)
    x = np.random.default_rng(0).standard_normal((2, cfg["in_channels"], cfg["input_size"], cfg["input_size"])).astype(np.float32)
    f = net.embed(x)
    assert f.shape == (2, 7) and f.dtype == np.float32
    assert net.logits(x).shape == (2, 10)


def test_liunet_mnist_pools_28_14_7_4_with_ceil_mode():
    net = build_network("liunet-mnist", feature_dim=2)
    pools = [l for l in net.features.layers if isinstance(l, MaxPool2d)]
    assert len(pools) == 3
    x = np.zeros((1, 1, 28, 28), np.float32)
    sizes = []
    for layer in net.features.layers:
        x = layer.forward(x, train=False)
        if isinstance(layer, MaxPool2d):
            sizes.append(x.shape[-1])
    assert sizes == [14, 7, 4]
    convs = [l for l in net.features.layers if isinstance(l, Conv2d)]
    assert [c.params["weight"].shape[0] for c in convs] == [64] * 4 + [128] * 3 + [256] * 3


def test_unknown_network_is_rejected_with_the_valid_names():
    with pytest.raises(ValueError, match=r"network must be one of .*'lenet'.*got 'resnet'"):
        build_network("resnet")


def test_no_weight_decay_on_batchnorm_prelu_and_biases():
    net = build_network("liunet-mnist-paper", feature_dim=4)
    no_decay = set(net.no_decay())
    for k, p in net.params.items():
        if k.startswith("head."):
            assert k not in no_decay
        elif p.ndim >= 2:  # conv and FC weights
            assert k not in no_decay, k
        else:  # BN weight/bias, PReLU slopes, FC bias
            assert k in no_decay, k


@pytest.mark.usefixtures("routes")
def test_whole_network_gradients_match_finite_differences():
    """Conv, ReLU, pooling, flatten, FC and the EM-Softmax head, end to end in float64."""
    from emsm_np.layers.prelu import PReLU
    from emsm_np.layers.batch_norm import BatchNorm2d
    from emsm_np.layers.flatten import Flatten
    from emsm_np.layers.linear import Linear
    from emsm_np.layers.sequential import Sequential
    from emsm_np.losses import EMSoftmax
    from emsm_np.models import Network

    rng = np.random.default_rng(3)
    f64 = np.float64
    features = Sequential(Conv2d(1, 2, 3, padding=1, dtype=f64, rng=rng), BatchNorm2d(2, dtype=f64),
                          PReLU(2, dtype=f64), MaxPool2d(2, 2, ceil_mode=True), Flatten(),
                          Linear(2 * 3 * 3, 3, dtype=f64, rng=rng))
    head = EMSoftmax(3, 4, ensemble=2, margin=0.3, lam=0.1, dtype=f64, rng=rng)
    net = Network(features, head)
    x = rng.standard_normal((4, 1, 5, 5))
    y = np.array([0, 1, 2, 3])
    net.loss(x, y)
    net.backward()
    grads = {k: g.copy() for k, g in net.grads.items()}
    params = net.params
    # max-pool has kinks: these inputs keep every window's maximum unique by > 1e-3
    gradcheck.assert_gradients_match(lambda: net.loss(x, y), params, grads, bound=gradcheck.KINK)


def test_sgd_matches_the_pytorch_update_rule():
    w = np.array([1.0, -2.0])
    g = np.array([0.5, 0.5])
    params, grads = {"w": w, "b": np.array([3.0])}, {"w": g, "b": np.array([1.0])}
    opt = SGD(params, grads, lr=0.1, momentum=0.9, weight_decay=0.01, no_decay=["b"])
    opt.step()
    v1 = g + 0.01 * np.array([1.0, -2.0])
    np.testing.assert_allclose(w, np.array([1.0, -2.0]) - 0.1 * v1)
    np.testing.assert_allclose(params["b"], [3.0 - 0.1])
    w_before = w.copy()
    opt.step()
    v2 = 0.9 * v1 + g + 0.01 * w_before
    np.testing.assert_allclose(w, w_before - 0.1 * v2)
    assert step_lr(0.1, 7999, (8000, 14000)) == 0.1
    assert abs(step_lr(0.1, 8000, (8000, 14000)) - 0.01) < 1e-15
    assert abs(step_lr(0.1, 19999, (8000, 14000)) - 0.001) < 1e-15


def test_sgd_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="lr must be > 0.0, got 0.0"):
        SGD({}, {}, lr=0.0)
    with pytest.raises(ValueError, match="momentum must be < 1, got 1.0"):
        SGD({}, {}, momentum=1.0)
    with pytest.raises(ValueError, match="no_decay names parameters that do not exist"):
        SGD({"w": np.zeros(1)}, {"w": np.zeros(1)}, no_decay=["v"])


def test_all_networks_listed():
    assert set(NETWORKS) == {"lenet", "liunet-mnist", "liunet-mnist-paper", "liunet-cifar10", "liunet-cifar100"}


@pytest.mark.parametrize("name", NETWORKS)
def test_every_network_ends_with_fc_batchnorm_activation_as_the_prototxt(name):
    from emsm_np.layers import BatchNorm1d, Linear, PReLU, ReLU

    layers = build_network(name, feature_dim=6).features.layers
    fc, bn, act = layers[-3:]
    assert isinstance(fc, Linear) and "bias" not in fc.params  # BN's beta is the bias
    assert isinstance(bn, BatchNorm1d) and bn.num_features == 6
    assert isinstance(act, (PReLU, ReLU))


def test_a_network_refuses_a_state_with_keys_it_does_not_have():
    net = build_network("lenet", num_classes=10, feature_dim=8, width=4)
    state = net.state_dict()
    net.load_state_dict(state)  # its own state loads
    with pytest.raises(KeyError, match=r"neither the features nor the head: \['optimizer.velocity'\]"):
        net.load_state_dict(dict(state, **{"optimizer.velocity": np.zeros(1)}))
    with pytest.raises(KeyError, match=r"does not have: \['params.bias'\]"):
        net.load_state_dict(dict(state, **{"head.params.bias": np.zeros(10)}))


def test_a_head_takes_a_single_feature():
    """One input feature is a valid head (a 1-D feature line), for EM-Softmax and a compared loss alike."""
    from emsm_np.losses import EMSoftmax, HingeLoss

    x, y = np.array([[0.5], [-1.0], [2.0]]), np.array([0, 1, 2])
    for head in (EMSoftmax(1, 3, ensemble=2, dtype=np.float64, rng=0), HingeLoss(1, 3, dtype=np.float64, rng=0)):
        assert head.params["weight"].shape[-2:] == (1, 3)
        assert np.isfinite(head.forward(x, y))
