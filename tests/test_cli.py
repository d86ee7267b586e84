"""The ``emsm`` command line: happy path on the embedded sample, evaluate, one-line errors."""
import json
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
    assert "done: test accuracy" in out and str(run) in out
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
    assert proc.stderr.startswith("emsm: error: ensemble must be >= 1") and "Traceback" not in proc.stderr


def test_device_gpu_without_a_gpu_is_a_clear_error_not_a_cpu_run(tmp_path, capsys):
    from emsm_np.backend import gpu_available

    if gpu_available():
        pytest.skip("this machine has a GPU: the no-GPU error cannot be shown")
    rc = main(["train", "--device", "gpu", "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "a GPU was requested" in err and err.count("\n") == 1
