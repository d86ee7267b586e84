"""The ``emsm`` command line's rough edges (issue 21, item 4), one test each: every mistake
is one line on stderr naming the switch, what it got and what was expected, with a
documented exit status; ``emsm --help`` loads no heavy module."""
import json
import os
import subprocess
import sys

import pytest

from emsm_np.cli import main


def one_line_error(capsys):
    """stderr of the last command, checked to be one line without a traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --- emsm --help and --version load neither SciPy, nor Matplotlib, nor the reproduce code ---

def test_building_the_parser_imports_no_heavy_module():
    code = ("import sys, emsm_np.cli; emsm_np.cli._parser().format_help(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'matplotlib'}), "
            "'emsm_np.reproduce.runner' in sys.modules, 'emsm_np.training.plots' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "False", "False"]


def test_the_lazy_names_of_emsm_np_reproduce_still_import():
    from emsm_np.reproduce import run_experiment, summarize, welch

    assert callable(run_experiment) and callable(summarize) and callable(welch)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        import emsm_np.reproduce as reproduce

        reproduce.nothing


# --- a value the parser refuses: one line naming the switch, not the 17-line usage block ---

@pytest.mark.parametrize("argv, line", [
    (["train", "--max-iter", "1e3x"], "--max-iter must be an integer, got '1e3x' (see emsm train --help)"),
    (["train", "--max-iter", "2.5"], "--max-iter must be an integer, got '2.5' (see emsm train --help)"),
    (["train", "--lr", "fast"], "--lr must be a number, got 'fast' (see emsm train --help)"),
    (["train", "--milestones", "3", "x"], "--milestones must be an integer, got 'x' (see emsm train --help)"),
    (["info", "--network", "lenet", "--width", "1.5"], "--width must be an integer, got '1.5' (see emsm info --help)"),
    (["reproduce", "table1", "--seeds", "two"], "--seeds must be an integer, got 'two' (see emsm reproduce --help)"),
    (["train", "--bogus", "3"], "unrecognized arguments: --bogus 3 (see emsm train --help)"),
    (["train", "--max-iter"], "argument --max-iter: expected one argument (see emsm train --help)"),
    (["reproduce", "table9"], "argument experiment: invalid choice: 'table9' (choose from 'table1', 'fig1', 'fig2', "
                              "'table4', 'margin') (see emsm reproduce --help)"),
])
def test_a_value_the_parser_refuses_is_one_line_naming_the_switch(argv, line, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert one_line_error(capsys) == f"emsm: error: {line}\n"


def test_a_whole_number_written_as_a_float_is_an_integer():
    from emsm_np.cli import _parser

    assert _parser().parse_args(["train", "--max-iter", "1e3", "--seed", "2.0"]).max_iter == 1000


# --- a --data-dir missing some files: one line naming them, and no download into it ---

def refuse_downloads(monkeypatch):
    """Fail the test if anything is downloaded."""
    from emsm_np.data import download

    def fail(*args, **kwargs):
        raise AssertionError("nothing should be downloaded")
    monkeypatch.setattr(download, "download_file", fail)


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("layout", ["directly in DIR", "in DIR/<data set>"])
def test_a_data_dir_with_some_of_the_files_names_the_missing_ones_in_one_line(dataset, layout, tmp_path,
                                                                               monkeypatch, capsys):
    from emsm_np.data import SOURCES

    refuse_downloads(monkeypatch)
    names = [name for name, _ in SOURCES[dataset].files]
    folder = tmp_path if layout == "directly in DIR" else tmp_path / dataset
    folder.mkdir(exist_ok=True)
    for name in names[:2]:
        (folder / name).write_bytes(b"")  # present (never read: the set is incomplete)
    rc = main(["train", "--dataset", dataset, "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "run")])
    err = one_line_error(capsys)
    assert rc == 2
    assert err.startswith(f"emsm: error: --data-dir {tmp_path}: {dataset}: {', '.join(names[2:])} missing from "
                          f"{folder}, which holds the other 2 of the 4 files; put them there (from http")
    assert "nothing is downloaded into a --data-dir" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100+"])
def test_an_empty_data_dir_for_cifar_is_one_line_and_no_download(dataset, tmp_path, monkeypatch, capsys):
    refuse_downloads(monkeypatch)
    kind = dataset.rstrip("+")
    rc = main(["train", "--dataset", dataset, "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "run")])
    err = one_line_error(capsys)
    assert rc == 2 and err.startswith(f"emsm: error: --data-dir {tmp_path}: {kind}: cifar-")
    assert f"missing from {tmp_path} and {tmp_path / kind}; put it in either (from https://www.cs.toronto.edu/" in err


def test_evaluate_with_a_data_dir_missing_files_is_the_same_one_line(finished_run, tmp_path, monkeypatch, capsys):
    run = copy_of(finished_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(dict(config, dataset="mnist", schedule="mnist")))
    refuse_downloads(monkeypatch)
    data = tmp_path / "data"
    data.mkdir()
    assert main(["evaluate", str(run), "--data-dir", str(data)]) == 2
    assert one_line_error(capsys).startswith(f"emsm: error: --data-dir {data}: mnist: train-images-idx3-ubyte.gz, ")


def test_without_a_data_dir_a_failed_download_is_one_line_saying_why(tmp_path, monkeypatch, capsys):
    import socket
    import urllib.error

    from emsm_np.data import download

    def offline(url, out, desc, progress, timeout):  # what urlopen raises without a network
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    monkeypatch.setattr(download, "_copy_url", offline)
    monkeypatch.delenv("EMSM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rc = main(["train", "--dataset", "mnist", "--run-dir", str(tmp_path / "run"), "--no-progress"])
    err = one_line_error(capsys)
    cache = tmp_path / "cache" / "emsm_np"
    assert rc == 2 and err.startswith(f"emsm: error: mnist: train-images-idx3-ubyte.gz, ")
    assert f"missing from {cache} and {cache / 'mnist'}; put them in either" in err
    assert err.endswith("; downloading failed (offline?): Name or service not known "
                        "(set EMSM_DEBUG=1 for a traceback)\n")


# --- a run folder that cannot be made: one line naming it and what to do, exit 2 ---

def test_a_run_dir_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    rc = main(["train", "--run-dir", str(tmp_path / "file" / "run"), "--no-progress"])
    assert rc == 2 and one_line_error(capsys).startswith(
        f"emsm: error: --run-dir {tmp_path / 'file' / 'run'} cannot be written: {tmp_path / 'file'} is a file, "
        "not a folder; give --run-dir a path in a writable folder")


def _nothing_can_be_made_in(folder):
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(dir=folder))
    except OSError:
        return True
    return False


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc") or not _nothing_can_be_made_in("/proc"),
                                reason="needs a /proc in which nothing can be created (Linux)")


@needs_proc
def test_a_run_dir_where_nothing_can_be_created_is_one_line(capsys):
    # root may write anywhere its permissions say nothing: /proc refuses even root
    rc = main(["train", "--run-dir", "/proc/emsm-run", "--no-progress"])
    assert rc == 2 and one_line_error(capsys).startswith(
        "emsm: error: --run-dir /proc/emsm-run cannot be written: nothing can be created in /proc; "
        "give --run-dir a path in a writable folder")


@needs_proc
@pytest.mark.parametrize("argv, switch", [(["train"], "--run-dir"), (["reproduce", "table1"], "--out")])
def test_a_working_directory_where_nothing_can_be_created_is_one_line(argv, switch, monkeypatch, capsys):
    monkeypatch.chdir("/proc")  # the default run folder is ./runs/...
    rc = main(argv)
    err = one_line_error(capsys)
    assert rc == 2 and err.startswith("emsm: error: runs/")
    assert (f", the default of {switch}, cannot be written: nothing can be created in /proc; give {switch} a path "
            "in a writable folder, or run emsm from a writable working directory") in err


def test_a_run_folder_the_system_refuses_is_one_line_without_errno(tmp_path):
    from emsm_np.training.loop import _make_run_dir

    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError) as info:
        _make_run_dir(str(tmp_path / "file" / "run"))
    assert str(info.value) == (f"--run-dir {tmp_path / 'file' / 'run'} cannot be created (Not a directory); "
                               "give --run-dir a path in a writable folder")


# --- a corrupted checkpoint: one line naming it, without NumPy's advice to unpickle it ---

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 6-iteration run (milestones 3, 5) on the embedded sample, copied by each test that alters it."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", "--max-iter", "6", "--eval-every", "3", "--feature-dim", "8", "--width", "4",
                 "--run-dir", str(run), "--no-progress"]) == 0
    return run


def copy_of(run, tmp_path):
    import shutil

    return shutil.copytree(run, tmp_path / "run")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_a_corrupted_checkpoint_is_one_line_naming_it(damage, command, finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    ckpt = run / "checkpoint.npz"
    whole = ckpt.read_bytes()
    ckpt.write_bytes({"garbage": b"not a checkpoint\n", "truncated": whole[: len(whole) // 2], "empty": b""}[damage])
    capsys.readouterr()
    argv = ["evaluate", str(run)] if command == "evaluate" else ["train", "--resume", str(run), "--no-progress"]
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert err.startswith(f"emsm: error: checkpoint {ckpt} is corrupted or truncated (not a whole .npz archive "
                          "written by emsm); it cannot be resumed or evaluated: train the run again")
    assert "pickle" not in err


# --- --resume with a --max-iter before the run's milestones names --max-iter ---

def test_resume_with_max_iter_before_the_milestones_names_max_iter(tmp_path, capsys):
    import signal

    from emsm_np.training import TrainConfig, TrainingInterrupted, train

    def ctrl_c_at_5(message):
        if message.startswith("iter 5/"):
            os.kill(os.getpid(), signal.SIGINT)

    run = tmp_path / "run"
    cfg = TrainConfig(max_iter=20, eval_every=5, width=4, feature_dim=8)  # quick's milestones: 12, 17
    with pytest.raises(TrainingInterrupted):
        train(cfg, run, progress=False, log=ctrl_c_at_5)
    assert main(["train", "--resume", str(run), "--max-iter", "10", "--no-progress"]) == 2
    assert one_line_error(capsys) == (
        "emsm: error: --max-iter 10 is not after the run's learning-rate milestones (12, 17), which a resumed run "
        "keeps; give --max-iter above 17 (set EMSM_DEBUG=1 for a traceback)\n")


# --- a run at chance level: exit 3 "did not learn" when long enough to judge, else "too short to tell" ---

@pytest.fixture
def blank_images(monkeypatch):
    """The embedded sample with every image blank: nothing to learn, every prediction one class (~10 %)."""
    import numpy as np

    from emsm_np.data import load_dataset

    def blank(dataset, data_dir):
        ds = load_dataset("mnist-sample")
        return ds._replace(x_train=np.zeros_like(ds.x_train), x_test=np.zeros_like(ds.x_test))
    monkeypatch.setattr("emsm_np.training.loop.load_run_data", blank)


TINY = ["--batch-size", "8", "--width", "4", "--feature-dim", "8", "--no-progress"]


def test_a_run_at_chance_after_100_iterations_exits_3_saying_it_did_not_learn(blank_images, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--max-iter", "100", "--eval-every", "50", "--run-dir", str(run), *TINY])
    out, err = capsys.readouterr()
    summary = json.loads((run / "summary.json").read_text())
    assert rc == 3 and out.splitlines()[-1].startswith("done: test accuracy ")
    assert err.splitlines()[-1] == (
        f"emsm: this run did not learn (exit status 3): test accuracy {100 * summary['test_accuracy']:.1f}% after "
        "100 iterations is chance level (10.0%); the network may be dead (constant features, every ReLU off): try "
        f"a smaller --lr (this run: 0.05); see {run / 'summary.json'}")
    assert summary["status"] == "not learning" and summary["learning"] == "not learning"
    assert summary["message"].startswith("not learning: test accuracy ")
    assert main(["train", "--resume", str(run), "--no-progress"]) == 3  # a finished run, resumed: the same verdict


def test_a_short_run_at_chance_is_too_short_to_tell_not_a_failure(blank_images, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--max-iter", "6", "--run-dir", str(run), *TINY])
    err = one_line_error(capsys)
    summary = json.loads((run / "summary.json").read_text())
    assert rc == 0 and summary["status"] == "ok" and summary["learning"] == "too short to tell"
    assert err == ("emsm: note: too short to tell whether it learns: test accuracy 10.0% after 6 iterations is near "
                   "chance level (10.0%), as it may be this early; a run is judged from 100 iterations on "
                   "(--max-iter)\n")


def test_the_same_run_on_the_real_images_is_above_chance_exit_0_and_no_note(tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--max-iter", "100", "--eval-every", "50", "--run-dir", str(run), *TINY])
    summary = json.loads((run / "summary.json").read_text())
    assert rc == 0 and capsys.readouterr().err == ""
    assert summary["status"] == "ok" and summary["learning"] == "above chance" and "message" not in summary



# --- gaps the fast tier's mutation re-score found (docs/results/mutation.md), one test each ---

def test_train_shows_a_progress_bar_unless_told_not_to(tmp_path, capsys):
    args = ["train", "--max-iter", "2", "--eval-every", "2", "--feature-dim", "8", "--width", "4"]
    assert main(args + ["--run-dir", str(tmp_path / "bar")]) == 0
    assert "it/s" in capsys.readouterr().err  # tqdm's bar, on stderr
    assert main(args + ["--run-dir", str(tmp_path / "plain"), "--no-progress"]) == 0
    assert "it/s" not in capsys.readouterr().err


def test_the_last_line_gives_each_weak_classifiers_accuracy(finished_run, capsys):
    import re

    summary = json.loads((finished_run / "summary.json").read_text())
    assert main(["train", "--resume", str(finished_run), "--no-progress"]) == 0  # a finished run: says it again
    done = [line for line in capsys.readouterr().out.splitlines() if line.startswith("done:")]
    weak = ", ".join(f"{100 * a:.2f}%" for a in summary["weak_accuracy"])
    assert len(summary["weak_accuracy"]) == 2 and len(done) == 1
    assert re.search(r"\(weak classifiers: \d+\.\d\d%, \d+\.\d\d%\)", done[0])
    assert f"(weak classifiers: {weak})" in done[0]


def test_evaluate_takes_threads_as_an_integer(finished_run, capsys):
    assert main(["evaluate", str(finished_run), "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["iteration"] == 6


def test_resume_names_every_contradicting_switch_in_one_list(finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    assert main(["train", "--resume", str(run), "--margin", "0.5", "--lam", "0.2", "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert "--margin 0.5 (the run has 0.3), --lam 0.2 (the run has 0.1). Only --max-iter can change" in err, err
