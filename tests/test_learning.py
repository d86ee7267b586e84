"""Every network and every loss learns at its data set's default recipe, on real images.

The test a broken default fails: the recipe (learning rate, momentum, weight decay,
batch size) is whatever ``TrainConfig(dataset=...)`` resolves to today, so a change
to a network, a loss, a preset or the optimiser that stops training fails CI.
Images are the embedded MNIST sample (real digits); the CIFAR networks see them as
3x32x32 images with the CIFAR preprocessing (per-pixel mean subtracted). LiuNets
are width-reduced (``width=8``: 8/8/16/32 filters, and 12 for CIFAR-100) so that the matrix runs in CI;
their depth, batch norms, pooling and FC - BN - activation are the real ones.
Each run is 60 iterations at the recipe's initial learning rate (no milestone yet),
evaluated on 500 test images.
"""
from types import SimpleNamespace

import numpy as np
import pytest

from emsm_np.data import load_dataset
from emsm_np.data.datasets import pixel_mean
from emsm_np.training import LOSSES, TrainConfig, train

pytestmark = pytest.mark.slow

ITERATIONS = 60
N_TEST = 500

# network -> (data set whose default recipe it trains with, width)
CASES = {
    "lenet": ("mnist", 8),
    "liunet-mnist": ("mnist", 8),
    "liunet-mnist-paper": ("mnist", 8),
    "liunet-cifar10": ("cifar10", 8),
    "liunet-cifar100": ("cifar100", 12),  # 12/12/24/48: not the same as liunet-cifar10 at 8
}


def _sample(as_cifar):
    ds = load_dataset("mnist-sample")
    x_train, x_test = ds.x_train, ds.x_test[:N_TEST]
    if as_cifar:  # 28x28 grey -> 32x32 RGB, then CIFAR's per-pixel mean subtraction
        def rgb(x):
            return np.repeat(np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))), 3, axis=1)
        x_train, x_test = rgb(x_train), rgb(x_test)
        mean = pixel_mean(x_train)
        x_train, x_test = x_train - mean, x_test - mean
    return SimpleNamespace(x_train=x_train, y_train=ds.y_train, x_test=x_test, y_test=ds.y_test[:N_TEST],
                           num_classes=10, name="sample")


@pytest.fixture(scope="module")
def samples():
    return {False: _sample(False), True: _sample(True)}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("network", sorted(CASES))
def test_every_network_and_loss_learns_at_its_datasets_default_recipe(network, loss, samples, tmp_path):
    dataset, width = CASES[network]
    cfg = TrainConfig(network=network, dataset=dataset, loss=loss, width=width, max_iter=ITERATIONS,
                      eval_every=ITERATIONS, milestones=())
    recipe = cfg.resolved()
    assert recipe.lr == 0.1 and recipe.momentum == 0.9 and recipe.weight_decay == 5e-4  # the paper's
    summary = train(cfg, tmp_path / "run", dataset=samples[dataset != "mnist"], progress=False,
                    log=lambda message: None)
    assert summary["status"] == "ok", summary["notes"]
    # chance is 10 %; every case measured on 2 CPU cores reached 74-93 % in 60 iterations, the compared
    # losses 84-95 % (hinge at its default l1: with l2 every LiuNet diverged at lr 0.1); with every
    # initial weight nudged one ulp (EMSM_PERTURB_INIT=1, as CI runs this file once) the 31 cases
    # measured (lenet, liunet-cifar10 and -cifar100, part of liunet-mnist) reached 83-95 %. The bound,
    # 50 %, is 24 points under the lowest case ever seen: another processor's rounding moves these
    # numbers by a few points, not by 24.
    assert summary["test_accuracy"] >= 0.5, (network, loss, summary["test_accuracy"])
    assert all(np.isfinite(a) for a in summary["weak_accuracy"])


@pytest.mark.parametrize("loss", LOSSES)
def test_lenet_learns_colour_images_at_the_cifar_recipe(loss, samples, tmp_path):
    """lenet is the default network for every data set, CIFAR's too (3 input channels, 32x32)."""
    cfg = TrainConfig(network="lenet", dataset="cifar10", loss=loss, width=8, max_iter=ITERATIONS,
                      eval_every=ITERATIONS, milestones=())
    summary = train(cfg, tmp_path / "run", dataset=samples[True], progress=False, log=lambda message: None)
    assert summary["status"] == "ok" and summary["test_accuracy"] >= 0.5, summary["test_accuracy"]


@pytest.mark.parametrize("network", ["lenet", "liunet-mnist"])
def test_the_embedded_sample_default_recipe_learns(network, samples, tmp_path):
    """`emsm train` with no switches: the quick preset on the sample."""
    cfg = TrainConfig(network=network, width=8, max_iter=ITERATIONS, eval_every=ITERATIONS, milestones=())
    assert cfg.resolved().schedule == "quick"
    summary = train(cfg, tmp_path / "run", dataset=samples[False], progress=False, log=lambda message: None)
    assert summary["status"] == "ok" and summary["test_accuracy"] >= 0.5, summary["test_accuracy"]
