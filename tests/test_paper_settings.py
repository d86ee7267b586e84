"""Settings of the paper that emsm_np expresses: V = 1 with e-/em-softmax (Fig. 2), the
paper's HSIC gradient (``--hsic-gradient``), the defaults of Sec. 4.4 (V = 2, lambda = 0.1),
dropout on the feature layer at Table 4's rates, and the help text that says so."""
import json

import numpy as np
import pytest

from emsm_np.cli import _parser, main
from emsm_np.gradcheck import KINK, assert_gradients_match
from emsm_np.layers.dropout import Dropout
from emsm_np.losses import EMSoftmax, em_softmax_loss
from emsm_np.models import build_network
from emsm_np.training import LOSS_DEFAULTS, TrainConfig, build_from_config, load_checkpoint
from emsm_np.training.config import read_config


def small_run(tmp_path, *extra, name="run"):
    run = tmp_path / name
    args = ["train", "--max-iter", "4", "--eval-every", "2", "--feature-dim", "8", "--width", "8",
            "--run-dir", str(run), "--no-progress", *extra]
    return run, main(args)


def help_of(command, switch):
    import argparse

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return " ".join(next(a for a in sub._actions if switch in a.option_strings).help.split())


# ---------------------------------------------------------------- V = 1 (Fig. 2 starts there)


@pytest.mark.parametrize("loss", ["e-softmax", "em-softmax"])
def test_e_and_em_softmax_accept_one_classifier(loss):
    cfg = TrainConfig(loss=loss, ensemble=1).resolved()
    assert (cfg.ensemble, cfg.lam) == (1, 0.1)


@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_one_classifier_has_zero_diversity_and_the_loss_is_its_cross_entropy(margin):
    rng = np.random.default_rng(0)
    x, W, y = rng.standard_normal((6, 5)), rng.standard_normal((1, 5, 4)), rng.integers(0, 4, 6)
    loss, dx, dW = em_softmax_loss(x, W, y, margin=margin, lam=0.1)
    loss0, dx0, dW0 = em_softmax_loss(x, W, y, margin=margin, lam=0.0)
    assert loss == loss0
    np.testing.assert_array_equal(dW, dW0)
    assert_gradients_match(lambda: em_softmax_loss(x, W, y, margin=margin, lam=0.1)[0], {"x": x, "W": W},
                           {"x": dx, "W": dW})


def test_head_with_one_classifier_and_lambda_trains_and_reports_zero_diversity():
    rng = np.random.default_rng(1)
    head = EMSoftmax(5, 4, ensemble=1, margin=0.5, lam=0.1, dtype=np.float64, rng=rng)
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 4, 6)
    head.forward(x, y)
    head.backward()
    assert float(head.terms["diversity"]) == 0.0 and head.diversity() == 0.0
    assert head.terms["ce"].shape == (1,) and np.isfinite(head.grads["weight"]).all()


def test_em_softmax_with_one_classifier_trains_from_the_command_line(tmp_path, capsys):
    run, rc = small_run(tmp_path, "--loss", "em-softmax", "--ensemble", "1")
    assert rc == 0
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["loss"], cfg["ensemble"], cfg["lam"]) == ("em-softmax", 1, 0.1)
    assert len(json.loads((run / "summary.json").read_text())["weak_accuracy"]) == 1


# ---------------------------------------------------------------- defaults (Sec. 4.4)


@pytest.mark.parametrize("loss", ["e-softmax", "em-softmax"])
def test_e_and_em_softmax_default_to_the_papers_v_2_and_lambda_0_1_with_the_exact_gradient(loss):
    cfg = TrainConfig(loss=loss).resolved()
    assert (cfg.ensemble, cfg.lam, cfg.hsic_gradient) == (2, 0.1, "exact")
    assert (LOSS_DEFAULTS[loss]["ensemble"], LOSS_DEFAULTS[loss]["lam"]) == (2, 0.1)


def test_the_help_states_the_defaults_and_that_the_batch_size_is_not_the_papers():
    assert "default: 0.1 for e-/em-softmax" in help_of("train", "--lam")
    assert "default: 2 for e-/em-softmax" in help_of("train", "--ensemble")
    assert "not in the paper" in help_of("train", "--batch-size") and "128 as the L-Softmax" in help_of(
        "train", "--batch-size")
    assert "Table 4" in help_of("train", "--dropout") and "{0.3, 0.5, 0.7}" in help_of("train", "--dropout")
    assert "(default: exact)" in help_of("train", "--hsic-gradient")


# ---------------------------------------------------------------- --hsic-gradient


def test_hsic_gradient_reaches_the_head_through_the_config_and_its_json():
    cfg = TrainConfig(hsic_gradient="paper", feature_dim=8).resolved()
    again = TrainConfig.from_json(cfg.to_json()).resolved()
    assert again.hsic_gradient == "paper"
    assert build_from_config(again, 10, 1, 28).head.hsic_gradient == "paper"
    assert build_network("lenet", ensemble=2, lam=0.1, hsic_gradient="paper").head.hsic_gradient == "paper"


def test_a_config_saved_before_the_switch_existed_reads_as_exact(tmp_path):
    d = json.loads(TrainConfig().resolved().to_json())
    del d["hsic_gradient"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(d))
    assert read_config(path).hsic_gradient == "exact"


def test_training_with_the_paper_gradient_from_the_command_line_and_resume_keeps_it(tmp_path, capsys):
    run, rc = small_run(tmp_path, "--hsic-gradient", "paper")
    assert rc == 0
    assert json.loads((run / "config.json").read_text())["hsic_gradient"] == "paper"
    capsys.readouterr()
    # a contradicting switch is refused like the others; the run's own value is fine
    assert main(["train", "--resume", str(run), "--hsic-gradient", "exact", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--hsic-gradient exact (the run has paper)" in err and err.count("\n") == 1
    assert main(["train", "--resume", str(run), "--hsic-gradient", "paper", "--max-iter", "6",
                 "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["hsic_gradient"] == "paper"


def test_the_two_gradients_train_differently_from_the_same_start(tmp_path, capsys):
    runs = {}
    for mode in ("exact", "paper"):
        run, rc = small_run(tmp_path, "--hsic-gradient", mode, "--max-iter", "2", name=mode)
        assert rc == 0
        runs[mode] = load_checkpoint(run / "checkpoint.npz")[0]["head.params.weight"]
    assert not np.array_equal(runs["exact"], runs["paper"])


@pytest.mark.parametrize("value", ["half", "Exact", ""])
def test_a_bad_hsic_gradient_is_a_one_line_error_naming_the_switch(value, tmp_path, capsys):
    rc = main(["train", "--hsic-gradient", value, "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert f"--hsic-gradient must be one of 'exact', 'paper'; got {value!r}" in err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- dropout at Table 4's rates


@pytest.mark.parametrize("p", [0.3, 0.5, 0.7])
def test_dropout_on_the_feature_layer_at_table_4s_rates_forward_and_backward(p):
    net = build_network("lenet", num_classes=4, feature_dim=6, width=2, input_size=8, ensemble=2,
                        margin=0.3, lam=0.1, dropout=p, dtype=np.float64, seed=2)
    drop = net.features.layers[-1]
    assert isinstance(drop, Dropout) and drop.p == p  # last: on the features the head classifies
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((8, 1, 8, 8)), np.arange(8) % 4

    def loss():
        drop.rng = 11  # the same mask at every evaluation: dropout is then linear
        return net.loss(x, y)

    feats = net.features.forward(x, train=True)
    assert 0 < float((feats == 0).mean()) < 1
    loss()
    net.backward()
    fc = next(k for k in net.params if k.startswith("features.") and net.params[k].ndim == 2)
    grads = {k: net.grads[k].copy() for k in ("head.weight", fc)}  # the head and the FC feature layer
    assert all(np.isfinite(g).all() and np.abs(g).max() > 0 for g in grads.values())
    params = {k: net.params[k] for k in grads}
    assert_gradients_match(loss, params, grads, bound=KINK)  # the network has ReLU and max-pooling
    # eval mode: no dropout
    np.testing.assert_array_equal(net.embed(x), net.embed(x))


@pytest.mark.parametrize("p", [0.3, 0.5, 0.7])
def test_dropout_at_table_4s_rates_is_accepted_by_the_config(p):
    cfg = TrainConfig(dropout=p, feature_dim=8).resolved()
    net = build_from_config(cfg, 10, 1, 28)
    assert isinstance(net.features.layers[-1], Dropout) and net.features.layers[-1].p == p
