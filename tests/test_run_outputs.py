"""What a run writes for its user: the logged training loss and the accuracy plot say what they claim."""
import csv

import numpy as np
import pytest

from emsm_np.training import TrainingInterrupted, build_from_config, loop, plots, train
from test_training import interrupt_at, read_rows, small_config, toy_digits


def test_logged_train_loss_is_the_mean_of_the_step_losses_since_the_last_evaluation(tmp_path, monkeypatch):
    losses = []
    step = loop._step

    def recording_step(*args):
        loss = step(*args)
        losses.append(float(loss))
        return loss

    monkeypatch.setattr(loop, "_step", recording_step)
    train(small_config(max_iter=25, eval_every=10, milestones=(20,)), tmp_path / "run", dataset=toy_digits(),
          progress=False)
    rows = read_rows(tmp_path / "run")
    assert [int(r["iteration"]) for r in rows] == [10, 20, 25]
    assert len(losses) == 25
    for row, chunk in zip(rows, (losses[:10], losses[10:20], losses[20:])):
        assert float(row["train_loss"]) == pytest.approx(sum(chunk) / len(chunk), rel=1e-6)


def test_accuracy_plot_draws_the_averaged_classifier_and_each_weak_one_against_the_iteration(tmp_path, monkeypatch):
    rows = [{"iteration": 10, "train_loss": 2.0, "test_accuracy": 0.5, "weak_accuracy_0": 0.4, "weak_accuracy_1": 0.45},
            {"iteration": 20, "train_loss": 1.0, "test_accuracy": 0.7, "weak_accuracy_0": 0.6, "weak_accuracy_1": 0.65}]
    path = tmp_path / "metrics.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    axes = []
    figure = plots._figure

    def keep():
        fig, ax = figure()
        axes.append(ax)
        return fig, ax

    monkeypatch.setattr(plots, "_figure", keep)
    written = plots.plot_run(str(path), str(tmp_path))
    assert written == [f"{tmp_path}/loss.png", f"{tmp_path}/accuracy.png"]
    loss_ax, acc_ax = axes
    assert [ax.get_xlabel() for ax in axes] == ["iteration", "iteration"]
    lines = {line.get_label(): list(line.get_ydata()) for line in acc_ax.get_lines()}
    assert lines == {"averaged classifier": [50.0, 70.0], "weak classifier 0": [40.0, 60.0],
                     "weak classifier 1": [45.0, 65.0]}
    assert [list(line.get_xdata()) for line in acc_ax.get_lines()] == [[10.0, 20.0]] * 3
    assert list(loss_ax.get_lines()[0].get_ydata()) == [2.0, 1.0]


def test_a_note_made_before_an_interruption_is_kept_once_by_the_resumed_run(tmp_path):
    ds = toy_digits()
    ds.x_train, ds.x_test = np.zeros_like(ds.x_train), np.zeros_like(ds.x_test)  # stays at chance (25 %)
    ds.y_test = np.arange(len(ds.y_test)) % 4
    cfg = small_config(max_iter=150, eval_every=50, milestones=(), width=4)
    with pytest.raises(TrainingInterrupted, match="interrupted at iteration 100"):
        train(cfg, tmp_path / "r", dataset=ds, progress=False, log=interrupt_at(100))
    summary = train(None, tmp_path / "r", resume=True, dataset=ds, progress=False)
    assert summary["status"] == "not learning"
    assert len(summary["notes"]) == 1 and summary["notes"][0].startswith("not learning: test accuracy 25.0% after 100")


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_the_network_built_from_a_config_takes_the_datas_image_size(channels, size):
    net = build_from_config(small_config().resolved(), 10, channels, size)
    x = np.zeros((2, channels, size, size), dtype=np.float32)
    assert net.logits(x).shape == (2, 10)
