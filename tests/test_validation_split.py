"""The held-out validation split of the training set (config ``validation``, ``--validation``):
fixed, never trained on, scored apart from the test set."""
import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest

import emsm_np.training.loop as loop
from emsm_np.data import split_validation
from emsm_np.training import TrainConfig, train


def indexed_images(n_train=200, n_test=40):
    """Images whose every pixel is their own index / n_train: a batch tells which images it holds."""
    x_train = (np.arange(n_train, dtype=np.float32) / n_train)[:, None, None, None] * np.ones((1, 1, 28, 28), np.float32)
    y_train = np.arange(n_train) % 4
    x_test = 0.5 * np.ones((n_test, 1, 28, 28), np.float32)
    y_test = np.arange(n_test) % 4
    return SimpleNamespace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                           num_classes=4, name="indexed")


def test_split_validation_holds_out_the_last_images_as_views():
    x, y = np.arange(10.0), np.arange(10)
    (xf, yf), (xv, yv) = split_validation(x, y, 3)
    assert xf.tolist() == list(range(7)) and xv.tolist() == [7, 8, 9] and yv.tolist() == [7, 8, 9]
    assert np.shares_memory(xf, x)  # views: no copy of a 60,000-image set
    (xf, _), (xv, _) = split_validation(x, y, 0)
    assert len(xf) == 10 and len(xv) == 0


@pytest.mark.parametrize("n,message", [(10, "validation must be smaller than the training set (10 images), got 10"),
                                       (-1, "validation must be >= 0, got -1")])
def test_split_validation_refuses_what_leaves_nothing_to_train_on(n, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        split_validation(np.zeros(10), np.zeros(10), n)


def test_held_out_images_are_never_in_a_training_batch_and_are_scored_apart(tmp_path, monkeypatch):
    ds = indexed_images()
    seen, scored = set(), []

    def record_step(net, opt, xb, yb, iteration):
        seen.update(np.rint(xb[:, 0, 0, 0] * 200).astype(int).tolist())
        return np.asarray(1.0, dtype=np.float32)

    real_evaluate = loop.evaluate

    def record_evaluate(net, x, y, **kw):
        scored.append(np.rint(np.asarray(x)[:, 0, 0, 0] * 200).astype(int).tolist() if len(x) != 40 else "test")
        return real_evaluate(net, x, y, **kw)

    monkeypatch.setattr(loop, "_step", record_step)
    monkeypatch.setattr(loop, "evaluate", record_evaluate)
    cfg = TrainConfig(network="lenet", feature_dim=8, width=4, batch_size=16, max_iter=40, eval_every=20,
                      milestones=(30,), validation=50, seed=1)
    summary = train(cfg, tmp_path / "run", dataset=ds, progress=False)

    # 150 training images, 9 full batches an epoch: 40 iterations cover 4+ epochs of them
    assert seen == set(range(150))
    assert scored.count("test") == 2 and scored.count(list(range(150, 200))) == 2
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [r["iteration"] for r in rows] == ["20", "40"] and all("val_accuracy" in r for r in rows)
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["validation"] == 50 and saved["val_accuracy"] == summary["val_accuracy"] == float(rows[-1]["val_accuracy"])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["validation"] == 50


def test_without_validation_there_is_no_val_column(tmp_path):
    cfg = TrainConfig(network="lenet", feature_dim=8, width=4, batch_size=16, max_iter=4, eval_every=4, milestones=())
    summary = train(cfg, tmp_path / "run", dataset=indexed_images(), progress=False)
    assert "val_accuracy" not in summary
    assert "val_accuracy" not in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0]


def test_validation_switch_errors_name_it(tmp_path, capsys):
    from emsm_np.cli import main

    assert main(["train", "--validation", "-5", "--run-dir", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "--validation must be >= 0, got -5" in capsys.readouterr().err
    assert main(["train", "--validation", "10000", "--run-dir", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "--validation 10000 must be smaller than the training set (10000 images)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
