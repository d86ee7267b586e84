"""emsm reproduce: every experiment in the smoke preset, resume and skip, bad switches, the statistics."""
import csv
import json
import os
import signal

import numpy as np
import pytest
from scipy import stats as sps

import emsm_np.reproduce.runner as runner
from emsm_np.cli import main
from emsm_np.reproduce import EXPERIMENTS, PRESETS, run_experiment, settings, summarize, welch
from emsm_np.reproduce.paper import TABLE1
from emsm_np.training import TrainingInterrupted

SEEDS = 2


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """Each experiment run once in the smoke preset with 2 seeds, through the command line."""
    root = tmp_path_factory.mktemp("reproduce")
    codes = {e: main(["reproduce", e, "--preset", "smoke", "--seeds", str(SEEDS), "--out", str(root / e)])
             for e in EXPERIMENTS}
    return root, codes


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_each_experiment_writes_its_table_with_ci_welch_and_the_paper(experiment, smoke_results):
    root, codes = smoke_results
    out = root / experiment
    assert codes[experiment] == 0
    table = (out / "results.md").read_text()
    assert "95 % CI (%)" in table and "Welch's t vs" in table and "paper (%)" in table
    assert "(reference)" in table
    rows = list(csv.DictReader(open(out / "runs.csv")))
    grid = settings(experiment, PRESETS["smoke"])
    assert len(rows) == len(grid) * SEEDS and {r["seed"] for r in rows} == {"0", "1"}
    report = json.loads((out / "results.json").read_text())
    got = report["datasets"]["mnist-sample"]["rows"]
    assert [r["key"] for r in got] == [s.key for s in grid]
    for r in got:
        assert r["n"] == SEEDS and r["ci_low"] < r["mean"] < r["ci_high"]
        assert r["welch_p"] == "" or 0 <= float(r["welch_p"]) <= 1
    png = out / f"{experiment}.png"
    assert png.is_file() == (experiment in ("fig1", "fig2"))
    if png.is_file():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({experiment}.png)" in table


def test_table1_puts_the_papers_mnist_numbers_beside_ours(smoke_results):
    report = json.loads((smoke_results[0] / "table1" / "results.json").read_text())
    rows = report["datasets"]["mnist-sample"]["rows"]
    assert [r["paper"] for r in rows] == [TABLE1[k]["mnist"] for k in ("softmax", "m-softmax", "e-softmax", "em-softmax")]
    assert [r["paper_source"] for r in rows] == ["Table 1 * (from L-Softmax's paper)"] + ["Table 1"] * 3


def test_margin_search_scores_m_on_held_out_training_images_only(smoke_results):
    out = smoke_results[0] / "margin"
    report = json.loads((out / "results.json").read_text())["datasets"]["mnist-sample"]
    best = max(report["rows"], key=lambda r: r["val_mean"])
    assert report["chosen"] == best["key"]
    for r in report["rows"]:
        assert len(r["val_accuracy"]) == SEEDS
    cfg = json.loads((out / "mnist-sample" / "m-1" / "seed-0" / "config.json").read_text())
    assert cfg["validation"] == 2000 and cfg["margin"] == 1.0
    assert "chosen" in (out / "results.md").read_text()
    other = json.loads((smoke_results[0] / "table1" / "mnist-sample" / "softmax" / "seed-0" / "config.json").read_text())
    assert other["validation"] == 0  # only the margin search holds images out


def test_a_second_invocation_trains_nothing(smoke_results, monkeypatch, capsys):
    def refuse(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(runner, "train", refuse)
    out = smoke_results[0] / "fig2"
    before = (out / "results.md").read_text()
    assert main(["reproduce", "fig2", "--preset", "smoke", "--seeds", str(SEEDS), "--out", str(out)]) == 0
    assert capsys.readouterr().out.count("done before, skipped") == len(settings("fig2", PRESETS["smoke"])) * SEEDS
    assert (out / "results.md").read_text() == before


def test_an_interrupted_run_resumes_to_the_uninterrupted_numbers(tmp_path):
    def interrupt_at_first_evaluation(message):
        if "iter 6/12" in message:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does: finish the step, checkpoint, stop

    with pytest.raises(TrainingInterrupted):
        run_experiment("table1", "smoke", seeds=1, out=str(tmp_path / "cut"), log=interrupt_at_first_evaluation)
    first = tmp_path / "cut" / "mnist-sample" / "softmax" / "seed-0"
    assert (first / "checkpoint.npz").is_file() and not (first / "summary.json").exists()

    said = []
    cut = run_experiment("table1", "smoke", seeds=1, out=str(tmp_path / "cut"), log=said.append)
    assert any("Softmax / seed 0" in m and "(resumed" in m for m in said)
    whole = run_experiment("table1", "smoke", seeds=1, out=str(tmp_path / "whole"), log=lambda m: None)
    assert cut["datasets"] == whole["datasets"]


def test_an_out_folder_with_runs_of_another_configuration_is_refused(smoke_results, capsys):
    rc = main(["reproduce", "table1", "--preset", "smoke", "--seeds", "1", "--margin", "0.5",
               "--out", str(smoke_results[0] / "table1")])
    err = capsys.readouterr().err
    assert rc == 2 and "--out" in err and "another configuration" in err and "margin 0.3 (wanted 0.5)" in err


@pytest.mark.parametrize("args,message", [
    (["table1", "--seeds", "0"], "--seeds must be a positive integer, got 0"),
    (["table1", "--data-dir", "/nonexistent/emsm"], "--data-dir /nonexistent/emsm does not exist"),
    (["table1", "--margin", "-1"], "--margin must be >= 0, got -1.0"),
    (["margin", "--margin", "0.5"], "--margin: the margin experiment searches m itself"),
    (["table1", "--preset", "tpu"], "argument --preset: invalid choice: 'tpu'"),
    (["table1", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["table9"], "argument experiment: invalid choice: 'table9'"),
    (["table1", "--dataset", "svhn"], "argument --dataset: invalid choice: 'svhn'"),
])
def test_bad_switches_exit_2_naming_the_switch(args, message, tmp_path, capsys):
    try:
        rc = main(["reproduce"] + args + ["--out", str(tmp_path / "r")])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_interrupted_reproduce_exits_130(monkeypatch, tmp_path, capsys):
    def interrupted(*a, **k):
        raise TrainingInterrupted("somewhere", 6)

    monkeypatch.setattr("emsm_np.reproduce.run_experiment", interrupted)
    assert main(["reproduce", "table1", "--preset", "smoke", "--out", str(tmp_path / "r")]) == 130
    assert "run the same emsm reproduce command again to resume" in capsys.readouterr().err


def test_a_data_set_not_found_is_reported_not_downloaded(tmp_path):
    report = run_experiment("fig2", "smoke", seeds=1, out=str(tmp_path / "r"), data_dir=str(tmp_path),
                            datasets=["cifar10"], log=lambda m: None)
    assert "missing data file" in report["datasets"]["cifar10"]["missing"]
    assert "Data not found, not run" in (tmp_path / "r" / "results.md").read_text()
    assert report["figure"] is None and not list(tmp_path.glob("cifar10*"))


def test_confidence_interval_is_the_t_interval_and_welch_is_scipys():
    s = summarize([1.0, 2.0, 3.0])
    half = sps.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)  # std 1 over 3 values
    assert s.n == 3 and s.mean == 2.0 and s.std == 1.0
    assert np.isclose(s.ci_low, 2 - half) and np.isclose(s.ci_high, 2 + half) and np.isclose(half, 2.484, atol=1e-3)
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0]
    v1, v2 = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 4
    t = (2.0 - 5.0) / np.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 ** 2 / 2 + v2 ** 2 / 3)  # Welch-Satterthwaite
    assert np.allclose(welch(a, b), (t, 2 * sps.t.sf(abs(t), df)))
    assert summarize([5.0]) == (1, 5.0, None, None, None) and welch([5.0], [1.0, 2.0]) is None
    assert welch([1.0, 1.0], [1.0, 1.0]) is None  # no spread: no test


def test_presets_have_the_papers_recipe_and_grids():
    gpu = PRESETS["gpu"]
    assert gpu.base("cifar100")["network"] == "liunet-cifar100" and gpu.base("mnist")["network"] == "liunet-mnist"
    assert "max_iter" not in gpu.base("mnist")  # the schedule's: 20k iterations (Sec. 4.3)
    assert gpu.grids["fig2"] == tuple(range(1, 11)) and gpu.grids["fig1"][0] == 0 and gpu.grids["fig1"][-1] == 30
    assert PRESETS["cpu"].grids["margin"] == (0.1, 0.5, 1.0, 5.0, 10.0) == gpu.grids["margin"]
    assert PRESETS["cpu"].grids["table4"] == (0.3, 0.5, 0.7)
    cpu = PRESETS["cpu"].base("mnist")
    assert cpu["network"] == "lenet" and cpu["max_iter"] * 20 * PRESETS["cpu"].seconds_per_iteration < 2.5 * 3600


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_preset_plans_valid_runs(experiment, preset):
    runs = runner.plan(experiment, preset, seeds=2)
    p = PRESETS[preset]
    assert len(runs) == len(p.datasets[experiment]) * len(settings(experiment, p)) * 2
    for ds, setting, seed, cfg in runs:
        assert cfg.dataset == ds and cfg.seed == seed and cfg.device == p.device
        assert cfg.validation == (PRESETS["smoke"].base(ds)["validation"] if experiment == "margin" else 0)
        if preset == "gpu":
            assert cfg.max_iter == 20000 and cfg.batch_size == 128 and cfg.network.startswith("liunet")
        if preset == "cpu":
            assert (cfg.network, cfg.max_iter, cfg.milestones) == ("lenet", 3000, (1800, 2550))


def test_compared_adds_table1s_other_losses_to_a_finished_folder_training_only_them(smoke_results, tmp_path, capsys):
    import shutil

    out = tmp_path / "table1"
    shutil.copytree(smoke_results[0] / "table1", out)
    capsys.readouterr()
    assert main(["reproduce", "table1", "--preset", "smoke", "--seeds", "1", "--compared", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.count("done before, skipped") == 4 and said.count("(trained,") == 5
    rows = json.loads((out / "results.json").read_text())["datasets"]["mnist-sample"]["rows"]
    compared = ["hinge", "center", "a-softmax", "n-softmax", "l-softmax"]  # the paper's order
    assert [r["key"] for r in rows] == ["softmax", "m-softmax", "e-softmax", "em-softmax"] + compared
    assert [r["paper"] for r in rows[4:]] == [99.53, 99.41, 99.66, 99.48, 99.69]  # Table 1, MNIST
    assert [r["paper_source"] for r in rows[4:]] == ["Table 1 * (from L-Softmax's paper)", "Table 1", "Table 1",
                                                     "Table 1", "Table 1 * (from L-Softmax's paper)"]
    table = (out / "results.md").read_text()
    assert "| HingeLoss | 1 |" in table and "HingeLoss l1; CenterLoss λ = 0.003, α = 0.5" in table
    cfg = json.loads((out / "mnist-sample" / "l-softmax" / "seed-0" / "config.json").read_text())
    assert (cfg["loss"], cfg["margin"], cfg["beta"]) == ("l-softmax", 2, "l-softmax")


def test_the_compared_rows_are_the_gpu_presets_and_leave_the_cpu_presets_table1_as_it_was():
    four = ["softmax", "m-softmax", "e-softmax", "em-softmax"]
    assert [s.key for s in settings("table1", PRESETS["cpu"])] == four  # a cpu table1 folder stays valid
    assert [s.key for s in settings("table1", PRESETS["smoke"])] == four
    assert [s.key for s in settings("table1", PRESETS["gpu"])][:4] == four
    assert len(settings("table1", PRESETS["gpu"])) == len(settings("table1", PRESETS["cpu"], compared=True)) == 9
    assert [s.key for s in settings("table1", PRESETS["gpu"], compared=False)] == four
    runs = runner.plan("table1", "cpu", seeds=1, compared=True)
    assert [cfg.loss for _, _, _, cfg in runs[:4]] == four and {cfg.max_iter for *_, cfg in runs} == {3000}


def test_compared_is_refused_for_an_experiment_without_those_rows(tmp_path, capsys):
    assert main(["reproduce", "fig2", "--preset", "smoke", "--compared", "--out", str(tmp_path / "r")]) == 2
    assert "--compared: the compared losses are rows of table1 only, not of fig2" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("experiment", ["fig1", "fig2"])
def test_the_figures_mark_only_lambda_01_v2_and_say_whose_number_and_what_is_assumed(experiment):
    from emsm_np.reproduce.experiments import paper_number

    p = PRESETS["gpu"]
    marked = {}
    for s in settings(experiment, p):
        for ds in ("mnist", "cifar10", "cifar10+", "cifar100", "cifar100+"):
            value, source = paper_number(experiment, s, ds)
            if value is not None:
                marked[(s.fields["lam"], s.fields["ensemble"], ds)] = (value, source)
    assert {k[:2] for k in marked} == {(0.1, 2)}
    # Table 4 states lambda = 0.1 for its EM-Softmax (Sec. 4.8); Table 1 states neither lambda nor V.
    assert marked[(0.1, 2, "cifar100")] == (72.74, "Table 4 EM-Softmax (λ = 0.1 stated, V not: 2 assumed)")
    assert marked[(0.1, 2, "cifar10")][0] == 93.31
    assert marked[(0.1, 2, "cifar100+")] == (75.69, "Table 1 EM-Softmax (λ, V not stated: 0.1, 2 assumed)")
    assert marked[(0.1, 2, "mnist")] == (TABLE1["em-softmax"]["mnist"], "Table 1 EM-Softmax (λ, V not stated: 0.1, 2 assumed)")


def test_fashion_mnist_table1_with_every_loss_and_fig1_run_resumably_through_the_command_line(
        tmp_path, monkeypatch, capsys):
    """--dataset fashion-mnist: Table 1's nine rows and Fig. 1, smoke preset. The shipped MNIST sample
    stands in for Fashion-MNIST's files (the runner's loader is asked for fashion-mnist in DATA)."""
    from emsm_np.data import load_dataset

    sample = load_dataset("mnist-sample")
    asked = []

    def load_fashion(name, data_dir=None, download=True, **kw):
        asked.append((name, data_dir))
        return sample._replace(name=name)

    monkeypatch.setattr(runner, "load_dataset", load_fashion)
    data = tmp_path / "DATA"
    data.mkdir()
    t1, f1 = tmp_path / "fashion-table1-smoke", tmp_path / "fashion-fig1-smoke"
    common = ["--preset", "smoke", "--dataset", "fashion-mnist", "--data-dir", str(data)]
    assert main(["reproduce", "table1", *common, "--seeds", "1", "--compared", "--out", str(t1)]) == 0
    assert main(["reproduce", "fig1", *common, "--seeds", "2", "--out", str(f1)]) == 0
    assert set(asked) == {("fashion-mnist", str(data))}

    report = json.loads((t1 / "results.json").read_text())
    assert list(report["datasets"]) == ["fashion-mnist"] and "--dataset fashion-mnist --compared" in report["command"]
    rows = report["datasets"]["fashion-mnist"]["rows"]
    assert [r["key"] for r in rows] == ["softmax", "m-softmax", "e-softmax", "em-softmax",
                                        "hinge", "center", "a-softmax", "n-softmax", "l-softmax"]
    for r in rows:  # every loss trained, with its per-seed values; no paper number: not a data set of the paper
        assert r["n"] == 1 and r["seeds"] == [0] and len(r["test_accuracy"]) == 1
        assert r["paper"] is None and r["paper_source"] == "not in the paper (it has no fashion-mnist)"
    table = (t1 / "results.md").read_text()
    assert "## fashion-mnist" in table and "Not a data set of the paper: fashion-mnist" in table
    assert "| HingeLoss | 1 |" in table and "| L-Softmax | " in table and "Per-seed test accuracy (%)" in table
    cfg = json.loads((t1 / "fashion-mnist" / "l-softmax" / "seed-0" / "config.json").read_text())
    assert (cfg["dataset"], cfg["loss"], cfg["margin"]) == ("fashion-mnist", "l-softmax", 2)

    fig = json.loads((f1 / "results.json").read_text())["datasets"]["fashion-mnist"]
    assert [r["x"] for r in fig["rows"]] == list(PRESETS["smoke"].grids["fig1"]) and fig["reference"] == "lam-0"
    assert all(r["n"] == 2 and r["ci_low"] < r["mean"] < r["ci_high"] for r in fig["rows"])
    assert all(r["paper"] is None for r in fig["rows"])  # no star: the paper has no Fashion-MNIST panel
    assert (f1 / "fig1.png").read_bytes()[:4] == b"\x89PNG"

    def refuse(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(runner, "train", refuse)
    capsys.readouterr()
    assert main(["reproduce", "table1", *common, "--seeds", "1", "--compared", "--out", str(t1)]) == 0
    assert capsys.readouterr().out.count("done before, skipped") == 9


def test_the_cpu_presets_fashion_mnist_runs_are_table1s_nine_losses_and_fig1s_lambdas():
    table1 = runner.plan("table1", "cpu", seeds=5, datasets=["fashion-mnist"], compared=True)
    assert len(table1) == 9 * 5 and {cfg.dataset for *_, cfg in table1} == {"fashion-mnist"}
    assert len({cfg.loss for *_, cfg in table1}) == 9 and {seed for _, _, seed, _ in table1} == set(range(5))
    fig1 = runner.plan("fig1", "cpu", seeds=3, datasets=["fashion-mnist"])
    assert [cfg.lam for *_, cfg in fig1[::3]] == [0.0, 0.01, 0.1, 1.0, 10.0, 30.0] and len(fig1) == 18
    for *_, cfg in table1 + fig1:  # the cpu preset's recipe, unchanged
        assert (cfg.network, cfg.max_iter, cfg.milestones, cfg.batch_size) == ("lenet", 3000, (1800, 2550), 128)
        assert cfg.validation == 0 and cfg.device == "cpu"


def _lock(run_dir, pid):
    import socket

    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, runner.LOCK), "w") as f:
        f.write(f"{pid} {socket.gethostname()}\n")


def test_two_processes_share_the_runs_a_live_claim_is_left_and_a_dead_ones_taken_over(tmp_path, monkeypatch):
    import shutil
    import subprocess
    import sys

    out, whole = tmp_path / "shared", tmp_path / "whole"
    run_experiment("table1", "smoke", seeds=1, out=str(whole), log=lambda m: None)
    ds, first, seed, _ = runner.plan("table1", "smoke", seeds=1)[0]
    claimed = runner.run_dir_of(str(out), ds, first, seed)
    _lock(claimed, os.getppid())  # a live process (pytest's parent) is training the first run

    said = []
    real_run_one = runner.run_one

    def other_finishes_meanwhile(cfg, run_dir, dataset, log=print):
        if not os.path.isfile(os.path.join(claimed, "summary.json")):  # the other process ends its run
            for name in os.listdir(runner.run_dir_of(str(whole), ds, first, seed)):
                shutil.copy(os.path.join(runner.run_dir_of(str(whole), ds, first, seed), name), claimed)
        return real_run_one(cfg, run_dir, dataset, log)

    monkeypatch.setattr(runner, "run_one", other_finishes_meanwhile)
    report = run_experiment("table1", "smoke", seeds=1, out=str(out), log=said.append)
    assert any(f"being trained by process {os.getppid()}" in m for m in said)
    assert os.path.isfile(os.path.join(claimed, runner.LOCK))  # another's claim is never removed
    # The last to finish tabulates every run, the other process's too, to the same numbers.
    assert report["datasets"] == json.loads((whole / "results.json").read_text())["datasets"]
    for _, s, k, _ in runner.plan("table1", "smoke", seeds=1)[1:]:
        assert not os.path.exists(os.path.join(runner.run_dir_of(str(out), ds, s, k), runner.LOCK))

    monkeypatch.setattr(runner, "run_one", real_run_one)
    shutil.rmtree(claimed)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock(claimed, dead.pid)  # a killed process's claim
    said.clear()
    report = run_experiment("table1", "smoke", seeds=1, out=str(out), log=said.append)
    assert any("Softmax / seed 0" in m and "(trained," in m for m in said)
    assert not os.path.exists(os.path.join(claimed, runner.LOCK))
    assert report["datasets"] == json.loads((whole / "results.json").read_text())["datasets"]
