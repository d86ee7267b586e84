"""The ``emsm`` command line: happy path on the embedded sample, evaluate, one-line errors."""
import json
import os
import re
import subprocess
import sys

import pytest

from emsm_np.cli import main


def test_train_then_evaluate_on_the_embedded_sample(tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--max-iter", "6", "--eval-every", "3", "--feature-dim", "8",
               "--run-dir", str(run), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "done: test accuracy" in out and "(weak classifiers: " in out and str(run) in out
    for name in ("config.json", "metrics.csv", "checkpoint.npz", "loss.png", "accuracy.png"):
        assert (run / name).is_file()
    summary = json.loads((run / "summary.json").read_text())

    assert main(["evaluate", str(run)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test_accuracy"] == summary["test_accuracy"]
    assert len(report["weak_accuracy"]) == 2 and report["iteration"] == 6

    # resuming a finished run changes nothing
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert f"{100 * summary['test_accuracy']:.2f}%" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--network", "vgg16"], "network must be one of"),
        (["--ensemble", "0"], "ensemble must be >= 1, got 0"),
        (["--margin", "-0.2"], "margin must be >= 0.0, got -0.2"),
        (["--loss", "softmax", "--lam", "0.1"], "--loss softmax uses one classifier"),
        (["--data-dir", "/nonexistent/emsm"], "--data-dir /nonexistent/emsm does not exist"),
        (["--device", "gpu-9"], "device must be one of 'cpu', 'gpu'"),
        (["--threads", "0"], "--threads must be a positive integer, got 0"),
        (["--dropout", "1.5"], "--dropout must be <= 0.99, got 1.5"),
        (["--dropout", "-0.1"], "--dropout must be >= 0.0, got -0.1"),
    ],
)
def test_bad_options_are_one_line_errors(args, message, tmp_path, capsys):
    rc = main(["train", "--run-dir", str(tmp_path / "r"), "--no-progress"] + args)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing created for a rejected command


def test_unwritable_run_dir_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc = main(["train", "--run-dir", str(blocker / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot be written" in err and err.count("\n") == 1


def test_resume_of_a_directory_without_a_run_is_an_error(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_evaluate_of_a_missing_checkpoint_is_an_error(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "no checkpoint found" in capsys.readouterr().err


def test_the_installed_command_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "emsm_np.cli", "train", "--ensemble", "-1",
                           "--run-dir", str(tmp_path / "r")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("emsm: error: --ensemble must be >= 1") and "Traceback" not in proc.stderr


def test_device_gpu_without_a_gpu_is_a_clear_error_not_a_cpu_run(tmp_path, capsys):
    from emsm_np.backend import gpu_available

    if gpu_available():
        pytest.skip("this machine has a GPU: the no-GPU error cannot be shown")
    rc = main(["train", "--device", "gpu", "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "a GPU was requested" in err and err.count("\n") == 1


def small_run(tmp_path, *extra):
    run = tmp_path / "run"
    args = ["train", "--max-iter", "6", "--eval-every", "3", "--feature-dim", "8", "--width", "8",
            "--run-dir", str(run), "--no-progress", *extra]
    return run, main(args)


def test_version_and_every_switchs_default_in_help(capsys):
    import argparse

    from emsm_np.cli import _parser

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("emsm_np 0.1.0")
    subparsers = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, parser in subparsers.choices.items():
        for action in parser._actions:
            if action.option_strings and not action.required and \
                    action.dest not in ("help", "resume", "run_dir", "no_progress"):
                assert "(default" in (action.help or ""), (command, action.option_strings)
    assert "(default: lenet)" in subparsers.choices["train"].format_help()
    assert subparsers.choices["evaluate"].format_usage().rstrip().endswith("RUN_DIR_OR_CHECKPOINT")  # what to pass


def test_no_progress_prints_one_line_per_evaluation(tmp_path, capsys):
    run, rc = small_run(tmp_path)
    out = capsys.readouterr().out
    assert rc == 0
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("iter ")] == ["iter 3/6", "iter 6/6"]


def test_resume_refuses_switches_that_contradict_the_saved_run(tmp_path, capsys):
    run, _ = small_run(tmp_path)
    capsys.readouterr()
    rc = main(["train", "--resume", str(run), "--lr", "0.5", "--loss", "softmax", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "a resumed run keeps its configuration; refusing" in err
    assert "--lr 0.5 (the run has 0.05)" in err and "--loss softmax (the run has em-softmax)" in err
    # says what the user may change, as the sentence that ends the one line
    assert re.search(r"\(the run has [^)]*\)\. Only --max-iter can change \(to extend the run\)\. \(set EMSM_DEBUG=1 for a traceback\)$",
                     err.strip())
    rc = main(["train", "--resume", str(run), "--max-iter", "0", "--no-progress"])
    assert rc == 2 and "--max-iter must be >= 1, got 0" in capsys.readouterr().err
    # the same values as the run's are fine, and --max-iter extends it
    rc = main(["train", "--resume", str(run), "--lr", "0.05", "--max-iter", "9", "--no-progress"])
    assert rc == 0 and "iter 9/9" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["max_iter"] == 9


def test_max_iter_alone_scales_the_schedules_milestones_and_says_so(tmp_path, capsys):
    run, rc = small_run(tmp_path)
    assert rc == 0
    assert "--max-iter 6: the quick schedule's learning-rate milestones scaled to 3, 5" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["milestones"] == [3, 5]


def test_milestones_past_max_iter_are_refused_naming_the_switch(tmp_path, capsys):
    rc = main(["train", "--max-iter", "100", "--milestones", "50", "200", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "--milestones must lie before max_iter 100, got [50, 200]" in err
    assert not (tmp_path / "r").exists()


def test_errors_name_switches_not_config_fields(tmp_path, capsys):
    rc = main(["train", "--batch-size", "0", "--run-dir", str(tmp_path / "r")])
    assert rc == 2 and "emsm: error: --batch-size must be >= 1, got 0" in capsys.readouterr().err


def test_data_dir_is_stored_absolute(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    run, rc = small_run(tmp_path, "--data-dir", "data")
    assert rc == 0
    assert json.loads((run / "config.json").read_text())["data_dir"] == str(tmp_path / "data")


def test_a_diverging_run_exits_1_with_one_line_and_a_summary(tmp_path, capsys):
    run, rc = small_run(tmp_path, "--lr", "1e30")
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1
    assert err.startswith("emsm: error: training diverged at iteration 1: ") and "try a smaller --lr" in err
    assert json.loads((run / "summary.json").read_text())["status"] == "diverged"


def test_evaluate_rejects_an_unknown_device_before_loading_anything(tmp_path, capsys):
    run, _ = small_run(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--device", "tpu"]) == 2
    assert "--device must be 'cpu' or 'gpu', got 'tpu'" in capsys.readouterr().err


def test_a_corrupt_config_json_is_an_error_naming_it(tmp_path, capsys):
    run, _ = small_run(tmp_path)
    (run / "config.json").write_text('"lenet"')
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 2
    assert f"{run / 'config.json'}: a config must be a JSON object, got a JSON str" in capsys.readouterr().err
    assert main(["train", "--resume", str(run)]) == 2
    assert "a config must be a JSON object" in capsys.readouterr().err


def _interrupt_when(proc, marker):
    import signal

    for line in proc.stdout:
        if marker in line:
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("resumed", [False, True])
def test_ctrl_c_exits_130_with_one_line_also_in_a_resumed_run(tmp_path, resumed):
    run = tmp_path / "run"
    base = [sys.executable, "-u", "-m", "emsm_np.cli", "train"]
    if resumed:
        assert main(["train", "--max-iter", "4", "--eval-every", "2", "--feature-dim", "8", "--width", "4",
                     "--run-dir", str(run), "--no-progress"]) == 0
        args = base + ["--resume", str(run), "--max-iter", "100000", "--no-progress"]
        marker = "iter 6/"
    else:
        args = base + ["--max-iter", "100000", "--eval-every", "2", "--feature-dim", "8", "--width", "4",
                       "--run-dir", str(run), "--no-progress"]
        marker = "iter 2/"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rc, err = _interrupt_when(proc, marker)
    assert rc == 130, err
    assert err.startswith("emsm: interrupted at iteration ") and f"resume with: emsm train --resume {run}" in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["--activation", "tanh"], "--activation must be one of 'prelu', 'relu'; got 'tanh'"),
    (["--width", "0"], "--width must be >= 1, got 0"),
    (["--dataset", "imagenet"], "--dataset must be one of"),
])
def test_a_rejected_switch_leaves_no_run_folder(args, message, tmp_path, capsys):
    rc = main(["train", "--run-dir", str(tmp_path / "r"), "--no-progress"] + args)
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_cifar_network_trains_on_mnist_sized_images(tmp_path, capsys):
    run, rc = small_run(tmp_path, "--network", "liunet-cifar10", "--width", "4")
    assert rc == 0, capsys.readouterr().err
    assert main(["evaluate", str(run)]) == 0


def test_evaluate_device_gpu_is_honoured_not_ignored(tmp_path, capsys):
    from emsm_np.backend import gpu_available

    if gpu_available():
        pytest.skip("this machine has a GPU: the no-GPU error cannot be shown")
    run, _ = small_run(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--device", "gpu"]) == 2
    assert "a GPU was requested" in capsys.readouterr().err


def test_the_readmes_real_data_defaults_are_the_configs():
    """README: `--dataset mnist` trains with lr 0.1 / 10 at 8k and 14k, 20k iterations, batch 128."""
    from emsm_np.training import TrainConfig

    for dataset in ("mnist", "fashion-mnist", "cifar10", "cifar10+"):
        cfg = TrainConfig(dataset=dataset).resolved()
        assert (cfg.lr, cfg.milestones, cfg.max_iter, cfg.batch_size, cfg.momentum, cfg.weight_decay) == \
            (0.1, (8000, 14000), 20000, 128, 0.9, 5e-4), dataset
    cfg = TrainConfig(dataset="cifar100").resolved()
    assert (cfg.lr, cfg.milestones, cfg.max_iter, cfg.batch_size) == (0.1, (12000, 15000), 20000, 128)
    cfg = TrainConfig().resolved()
    assert (cfg.network, cfg.dataset, cfg.loss, cfg.lr, cfg.max_iter, cfg.batch_size) == \
        ("lenet", "mnist-sample", "em-softmax", 0.05, 800, 64)


def test_resume_accepts_the_runs_own_milestones_and_data_dir_given_again(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    run, rc = small_run(tmp_path, "--milestones", "4", "--data-dir", "data")
    assert rc == 0
    capsys.readouterr()
    rc = main(["train", "--resume", str(run), "--milestones", "4", "--data-dir", "data", "--max-iter", "7",
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert "iter 7/7" in capsys.readouterr().out


def test_evaluate_prints_the_documented_report_and_reads_another_data_dir(tmp_path, capsys):
    from emsm_np.data import load_dataset

    run, _ = small_run(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"checkpoint", "iteration", "dataset", "test_accuracy", "weak_accuracy", "agreement"}
    assert report["checkpoint"] == str(run / "checkpoint.npz") and report["dataset"] == "mnist-sample"
    assert report["iteration"] == 6 and 0 <= report["agreement"] <= 1
    assert load_dataset("mnist-sample").x_test.shape[0] == 2000
    # a checkpoint file may be named instead of its run folder
    assert main(["evaluate", str(run / "checkpoint.npz")]) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] == report["test_accuracy"]


@pytest.mark.parametrize("status, warned", [("not learning", True), ("ok", False)])
def test_train_warns_on_stderr_only_for_a_run_that_did_not_learn(status, warned, tmp_path, monkeypatch, capsys):
    def finished(cfg, run_dir, **kw):
        return {"status": status, "test_accuracy": 0.1, "weak_accuracy": [0.1, 0.1], "wall_time": 1.0,
                "run_dir": str(run_dir)}

    monkeypatch.setattr("emsm_np.training.train", finished)
    # exit status 3: did not learn (tests/test_cli_edges.py)
    assert main(["train", "--run-dir", str(tmp_path / "r"), "--no-progress"]) == (3 if warned else 0)
    err = capsys.readouterr().err
    assert ("emsm: this run did not learn" in err) == warned


def test_emsm_debug_turns_the_one_line_error_into_the_traceback(monkeypatch, capsys):
    assert main(["train", "--lr", "-1"]) == 2
    assert "(set EMSM_DEBUG=1 for a traceback)" in capsys.readouterr().err
    monkeypatch.setenv("EMSM_DEBUG", "1")
    with pytest.raises(ValueError, match="lr"):
        main(["train", "--lr", "-1"])
