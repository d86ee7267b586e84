"""SGD reads the model's current arrays at every step, so it survives ``model.to(device)``.

``Layer.to`` replaces every parameter and gradient array. On the CPU a move to
"cpu" keeps the arrays (``np.asarray`` returns its argument), so these tests make
the move copy, as a real move between devices does; on the GPU they move the
model to the GPU and back.
"""
import numpy as np
import pytest

from emsm_np.backend import asnumpy, get_array_module
from emsm_np.layers import base
from emsm_np.layers.batch_norm import BatchNorm1d
from emsm_np.layers.linear import Linear
from emsm_np.layers.sequential import Sequential
from emsm_np.losses import EMSoftmax
from emsm_np.models.network import Network
from emsm_np.optim import SGD

LR, MOMENTUM, DECAY = 0.1, 0.9, 0.01


def small_network():
    features = Sequential(Linear(4, 3, dtype=np.float64, rng=0), BatchNorm1d(3, dtype=np.float64))
    return Network(features, EMSoftmax(3, 2, ensemble=2, dtype=np.float64, rng=1))


@pytest.fixture
def move(xp, monkeypatch):
    """``move(model)``: replace every array of the model, as a move between devices does.

    On NumPy: to "cpu" with a copying move. On CuPy: to the GPU, then back
    to the CPU on the next call, and so on.
    """
    if xp is np:
        monkeypatch.setattr(base, "asnumpy", lambda a: np.array(a, copy=True))
        return lambda model: model.to("cpu")
    where = {"now": "cpu"}

    def to_other(model):
        where["now"] = "gpu" if where["now"] == "cpu" else "cpu"
        return model.to(where["now"])

    return to_other


def fill_grads(model, seed):
    """Set every gradient to random values; return them as NumPy copies."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, g in model.grads.items():
        out[name] = rng.standard_normal(g.shape)
        g[...] = get_array_module(g).asarray(out[name])
    return out


def host(arrays):
    return {k: asnumpy(v).copy() for k, v in arrays.items()}


def test_sgd_built_before_the_model_moves_updates_the_moved_weights_by_the_sgd_rule(xp, move):
    net = small_network()
    no_decay = set(net.no_decay())
    opt = SGD(net, lr=LR, momentum=MOMENTUM, weight_decay=DECAY, no_decay=no_decay)
    stale = net.params
    stale_before = host(stale)
    move(net)
    assert all(net.params[k] is not stale[k] for k in stale)  # every array was replaced

    def decay(k, w):
        return 0.0 if k in no_decay else DECAY * w

    w0 = host(net.params)
    g1 = fill_grads(net, 1)
    opt.step()
    v1 = {k: g1[k] + decay(k, w0[k]) for k in w0}
    for k in w0:
        np.testing.assert_allclose(asnumpy(net.params[k]), w0[k] - LR * v1[k], rtol=1e-12, err_msg=k)
        np.testing.assert_array_equal(asnumpy(stale[k]), stale_before[k], err_msg=k)  # old arrays untouched

    move(net)  # again (on the GPU: back to the CPU), with a velocity to carry along
    w1 = host(net.params)
    g2 = fill_grads(net, 2)
    opt.step()
    for k in w1:
        v2 = MOMENTUM * v1[k] + g2[k] + decay(k, w1[k])
        np.testing.assert_allclose(asnumpy(net.params[k]), w1[k] - LR * v2, rtol=1e-12, err_msg=k)
        # the velocity lives where its parameter lives
        assert type(opt.velocity[k]) is type(net.params[k]), k


def test_sgd_over_a_layers_own_dicts_follows_the_layer_when_it_moves(xp, move):
    layer = Linear(3, 2, dtype=np.float64, rng=0)
    opt = SGD(layer.params, layer.grads, lr=LR, momentum=MOMENTUM, weight_decay=0.0)
    move(layer)
    w0 = host(layer.params)
    g = fill_grads(layer, 3)
    opt.step()
    for k in w0:
        np.testing.assert_allclose(asnumpy(layer.params[k]), w0[k] - LR * g[k], rtol=1e-12)


def test_sgd_velocity_restored_from_a_checkpoint_goes_to_the_moved_parameters(xp, move):
    net = small_network()
    opt = SGD(net, lr=LR, momentum=MOMENTUM, weight_decay=0.0)
    fill_grads(net, 4)
    opt.step()
    state = opt.state_dict()
    restored = SGD(net, lr=LR, momentum=MOMENTUM, weight_decay=0.0)
    move(net)
    restored.load_state_dict(state)
    w0 = host(net.params)
    g = fill_grads(net, 5)
    restored.step()
    for k in w0:
        v = MOMENTUM * state[f"velocity.{k}"] + g[k]
        np.testing.assert_allclose(asnumpy(net.params[k]), w0[k] - LR * v, rtol=1e-12, err_msg=k)


def test_sgd_takes_a_model_alone_or_two_dicts_and_says_so_otherwise():
    net = small_network()
    with pytest.raises(TypeError, match=r"SGD needs a model .* or two dicts SGD\(params, grads, ...\)"):
        SGD(net.params)
    with pytest.raises(TypeError, match=r"SGD\(params, grads\) takes two dicts"):
        SGD(net, net.grads)


def test_sgd_rejects_a_gradient_of_another_dtype_naming_the_parameter():
    params, grads = {"w": np.zeros(3)}, {"w": np.zeros(3, dtype=np.float32)}
    opt = SGD(params, grads, lr=0.1)
    with pytest.raises(TypeError, match=r"params\['w'\] has dtype float64 but grads\['w'\] has dtype float32"):
        opt.step()


def test_sgd_load_state_dict_copies_the_velocities_and_leaves_the_checkpoint_as_it_was():
    params, grads = {"w": np.zeros(3)}, {"w": np.ones(3)}
    state = {"lr": 0.1, "velocity.w": np.full(3, 2.0)}
    opt = SGD(params, grads, lr=0.1, momentum=0.5, weight_decay=0.0)
    opt.load_state_dict(state)
    opt.step()
    np.testing.assert_array_equal(state["velocity.w"], np.full(3, 2.0))
    np.testing.assert_allclose(params["w"], -0.1 * (0.5 * 2.0 + 1.0))


def test_sgd_load_state_dict_puts_the_velocities_in_the_parameters_dtype_at_once():
    # A float64 checkpoint (e.g. from a float64 run) restored into a float32 model.
    params, grads = {"w": np.zeros(3, np.float32)}, {"w": np.ones(3, np.float32)}
    opt = SGD(params, grads, lr=0.1, momentum=0.5)
    opt.load_state_dict({"lr": 0.1, "velocity.w": np.full(3, 2.0, np.float64)})
    assert opt.velocity["w"].dtype == np.float32
    np.testing.assert_array_equal(opt.velocity["w"], np.full(3, 2.0, np.float32))


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=0.0), r"lr must be > 0(\.0)?, got 0"),
    (dict(lr=-0.1), r"lr must be > 0(\.0)?, got -0.1"),
    (dict(lr=0.1, momentum=-0.5), r"momentum must be >= 0(\.0)?, got -0.5"),
    (dict(lr=0.1, momentum=1.0), r"momentum must be < 1, got 1"),
    (dict(lr=0.1, weight_decay=-1e-4), r"weight_decay must be >= 0(\.0)?, got -0.0001"),
])
def test_sgd_rejects_hyperparameters_out_of_range_naming_them(kwargs, message):
    params = {"w": np.zeros(3)}
    with pytest.raises(ValueError, match=message):
        SGD(params, {"w": np.zeros(3)}, **kwargs)


def test_sgds_defaults_are_the_papers_recipe():
    """lr 0.1, momentum 0.9, weight decay 5e-4 (Sec. 4.3), when none is given."""
    opt = SGD({"w": np.zeros(2)}, {"w": np.zeros(2)})
    assert (opt.lr, opt.momentum, opt.weight_decay) == (0.1, 0.9, 5e-4)


def test_sgd_refuses_an_object_with_params_but_no_grads():
    class ParamsOnly:
        params = {"w": np.zeros(2)}

    with pytest.raises(TypeError, match="SGD needs a model"):
        SGD(ParamsOnly())
