"""The initial weights and the one-ulp perturbation switch (EMSM_PERTURB_INIT)."""
import numpy as np
import pytest

from emsm_np.layers import Conv2d, Linear
from emsm_np.layers.init import PERTURB_ENV, perturbation, uniform_init
from emsm_np.losses import EMSoftmax
from emsm_np.models import build_network


def test_unset_the_draw_is_the_generators_uniform_draw_cast(monkeypatch):
    monkeypatch.delenv(PERTURB_ENV, raising=False)
    w = uniform_init(np.random.default_rng(3), 0.5, (4, 5), np.float32)
    expected = np.random.default_rng(3).uniform(-0.5, 0.5, (4, 5)).astype(np.float32)
    assert w.dtype == np.float32 and np.array_equal(w, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_perturbed_every_initial_weight_moves_by_exactly_one_ulp_in_both_directions(dtype, monkeypatch):
    monkeypatch.delenv(PERTURB_ENV, raising=False)
    plain = uniform_init(np.random.default_rng(0), 1.0, (50, 40), dtype)
    monkeypatch.setenv(PERTURB_ENV, "1")
    nudged = uniform_init(np.random.default_rng(0), 1.0, (50, 40), dtype)
    assert nudged.dtype == dtype
    up = nudged == np.nextafter(plain, np.inf)
    down = nudged == np.nextafter(plain, -np.inf)
    assert np.all(up | down)
    assert 0.4 < up.mean() < 0.6  # random directions, not a shift of the whole layer


def test_each_k_is_another_perturbation_and_each_is_reproducible(monkeypatch):
    draws = {}
    for k in ("1", "2", "1"):
        monkeypatch.setenv(PERTURB_ENV, k)
        draws.setdefault(k, []).append(uniform_init(np.random.default_rng(0), 1.0, (30,), np.float32))
    assert np.array_equal(*draws["1"])
    assert not np.array_equal(draws["1"][0], draws["2"][0])


def test_every_layer_and_head_with_weights_draws_through_the_switch(monkeypatch):
    def weights():
        net = build_network("lenet", width=4, seed=0)
        layers = [Linear(6, 3, rng=0), Conv2d(2, 3, 3, rng=0), EMSoftmax(6, 4, ensemble=2, rng=0),
                  build_network("lenet", width=4, head="hinge", seed=0).head]
        arrays = [v for k, v in net.state_dict().items() if k.endswith("weight") and "features.8" not in k]
        return arrays + [v for layer in layers for v in layer.params.values()]

    monkeypatch.delenv(PERTURB_ENV, raising=False)
    plain = weights()
    monkeypatch.setenv(PERTURB_ENV, "1")
    for a, b in zip(plain, weights()):
        assert a.shape == b.shape and np.all(a != b)


@pytest.mark.parametrize("value", ["-1", "yes", "1.5"])
def test_a_bad_value_is_a_value_error_naming_the_variable(value, monkeypatch):
    monkeypatch.setenv(PERTURB_ENV, value)
    with pytest.raises(ValueError, match=PERTURB_ENV):
        perturbation()


@pytest.mark.parametrize("value", ["", "0"])
def test_empty_or_zero_is_no_perturbation(value, monkeypatch):
    monkeypatch.setenv(PERTURB_ENV, value)
    assert perturbation() == 0
