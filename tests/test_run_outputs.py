"""What a run writes for its user: the logged training loss and the accuracy plot say what they claim."""
import csv

import pytest

from emsm_np.training import loop, plots, train
from test_training import read_rows, small_config, toy_digits


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
