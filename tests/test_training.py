"""Training loop: loss falls, accuracy above chance, exact resume, checkpoints, config checks."""
import csv
import json
import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest

from emsm_np.training import (
    CheckpointError,
    TrainConfig,
    TrainingInterrupted,
    batch_position,
    load_checkpoint,
    save_checkpoint,
    train,
)


def toy_digits(n_train=320, n_test=200, seed=0):
    """A learnable 4-class problem on 1x28x28 images: a bright bar whose position is the class."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 4, n)
        x = 0.3 * rng.random((n, 1, 28, 28)).astype(np.float32)
        for k in range(4):
            x[y == k, 0, 4 + 6 * k:7 + 6 * k, 4:24] += 0.7
        return x, y

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    return SimpleNamespace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                           num_classes=4, name="toy")


def small_config(**kw):
    base = dict(network="lenet", loss="em-softmax", feature_dim=16, max_iter=40, eval_every=10,
                milestones=(30,), lr=0.02, batch_size=32, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def read_rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def test_training_lowers_the_loss_and_beats_chance(tmp_path):
    summary = train(small_config(), tmp_path / "run", dataset=toy_digits(), progress=False)
    rows = read_rows(tmp_path / "run")
    assert [int(r["iteration"]) for r in rows] == [10, 20, 30, 40]
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < 0.5 * losses[0], losses
    assert summary["test_accuracy"] > 0.9  # chance is 0.25
    assert len(summary["weak_accuracy"]) == 2
    for name in ("config.json", "checkpoint.npz", "loss.png", "accuracy.png", "summary.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert float(rows[-1]["lr"]) == pytest.approx(0.002)
    assert float(rows[-1]["diversity"]) > 0


def test_resumed_run_ends_with_exactly_the_same_numbers(tmp_path, monkeypatch):
    ds = toy_digits()
    ref = train(small_config(), tmp_path / "ref", dataset=ds, progress=False)

    # Press Ctrl-C (a real SIGINT) during step 17: the loop finishes that step,
    # checkpoints and stops.
    import emsm_np.training.loop as loop

    original_step = loop.SGD.step
    calls = {"n": 0}

    def step_then_sigint(opt):
        original_step(opt)
        calls["n"] += 1
        if calls["n"] == 17:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(loop.SGD, "step", step_then_sigint)
    with pytest.raises(TrainingInterrupted, match="interrupted at iteration 17"):
        train(small_config(), tmp_path / "cut", dataset=ds, progress=False)
    monkeypatch.setattr(loop.SGD, "step", original_step)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.npz")[2]["iteration"] == 17
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored

    resumed = train(None, tmp_path / "cut", resume=True, dataset=ds, progress=False)
    assert resumed["test_accuracy"] == ref["test_accuracy"]
    ref_rows, cut_rows = read_rows(tmp_path / "ref"), read_rows(tmp_path / "cut")
    for a, b in zip(ref_rows, cut_rows):
        for k in a:
            if k != "wall_time":
                assert a[k] == b[k], (k, a[k], b[k])
    assert len(ref_rows) == len(cut_rows)
    ref_w = load_checkpoint(tmp_path / "ref" / "checkpoint.npz")[0]
    cut_w = load_checkpoint(tmp_path / "cut" / "checkpoint.npz")[0]
    for k in ref_w:
        np.testing.assert_array_equal(ref_w[k], cut_w[k])


def reference_and_cut_run(tmp_path, ds):
    """A 40-iteration run, and a run of the same configuration stopped after
    iteration 20 (trained for 20, then its config.json says 40)."""
    ref = train(small_config(), tmp_path / "ref", dataset=ds, progress=False)
    run = tmp_path / "run"
    train(small_config(max_iter=20), run, dataset=ds, progress=False)
    cfg = json.loads((run / "config.json").read_text())
    cfg["max_iter"] = 40
    (run / "config.json").write_text(json.dumps(cfg))
    return ref, run


def test_resume_after_a_hard_kill_drops_metrics_written_after_the_checkpoint(tmp_path):
    ds = toy_digits()
    ref, run = reference_and_cut_run(tmp_path, ds)
    # as if killed after writing a row for iteration 30
    with open(run / "metrics.csv", "a") as f:
        f.write("30,9,0.1,0.02,1,1,1,0.1,0.1\n")
    resumed = train(None, run, resume=True, dataset=ds, progress=False)
    assert resumed["test_accuracy"] == ref["test_accuracy"]
    assert [r["iteration"] for r in read_rows(run)] == ["10", "20", "30", "40"]


def test_resume_uses_the_thread_count_the_run_was_started_with(tmp_path):
    from emsm_np import parallel

    before = parallel.num_threads()
    ds = toy_digits()
    try:
        parallel.set_num_threads(2)  # splits every convolution's batch between two threads
        ref, run = reference_and_cut_run(tmp_path, ds)
        parallel.set_num_threads(1)  # a session with another count resumes it
        messages = []
        resumed = train(None, run, resume=True, dataset=ds, progress=False, log=messages.append)
        assert parallel.num_threads() == 2
        assert any("using 2 CPU threads, as the run did" in m for m in messages), messages
        assert resumed["test_accuracy"] == ref["test_accuracy"]
        ref_w, run_w = (load_checkpoint(d / "checkpoint.npz")[0] for d in (tmp_path / "ref", run))
        for k in ref_w:
            np.testing.assert_array_equal(run_w[k], ref_w[k])
    finally:
        parallel.set_num_threads(before)


def test_iterations_walk_through_epochs_of_full_batches():
    assert batch_position(100, 32, 0) == (0, 0)
    assert batch_position(100, 32, 2) == (0, 2)
    assert batch_position(100, 32, 3) == (1, 0)  # 3 full batches per epoch, 4 left out
    assert batch_position(10, 32, 5) == (5, 0)  # fewer items than a batch: one batch per epoch


def test_checkpoint_is_atomic_and_corruption_names_the_file(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.arange(3.0)}, {"lr": 0.1, "velocity.w": np.ones(3)}, {"iteration": 5})
    model, optim, meta = load_checkpoint(path)
    np.testing.assert_array_equal(model["w"], np.arange(3.0))
    assert optim["lr"] == 0.1 and meta["iteration"] == 5
    assert os.listdir(tmp_path) == ["c.npz"]  # no temporary left behind
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"c.npz is corrupted or truncated"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"missing.npz does not exist"):
        load_checkpoint(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"network": "vgg"}, r"network must be one of"),
        ({"loss": "arcface"}, r"loss must be one of"),
        ({"ensemble": 0}, r"ensemble must be >= 1, got 0"),
        ({"margin": -0.5}, r"margin must be >= 0.0, got -0.5"),
        ({"lam": -1.0}, r"lam must be >= 0.0"),
        ({"loss": "softmax", "ensemble": 3}, r"--loss softmax uses one classifier"),
        ({"loss": "e-softmax", "margin": 0.2}, r"--loss e-softmax has no margin"),
        ({"loss": "em-softmax", "ensemble": 1}, r"--loss em-softmax is an ensemble: expected ensemble >= 2"),
        ({"device": "tpu"}, r"device must be one of 'cpu', 'gpu'"),
    ],
)
def test_bad_configurations_are_rejected_naming_the_option(kw, message):
    with pytest.raises((ValueError, TypeError), match=message):
        small_config(**kw).resolved()


def test_an_existing_run_is_not_overwritten(tmp_path):
    ds = toy_digits(n_train=64, n_test=32)
    train(small_config(max_iter=2, eval_every=2), tmp_path / "r", dataset=ds, progress=False)
    with pytest.raises(ValueError, match="already holds a run; use --resume"):
        train(small_config(max_iter=2), tmp_path / "r", dataset=ds, progress=False)


def test_training_on_the_gpu_matches_the_cpu(xp, tmp_path):
    """Same seed on CuPy: the same learning, up to float32 summation order."""
    if xp is np:
        pytest.skip("the CPU run is covered above; this variant needs a GPU")
    ds = toy_digits()
    cpu = train(small_config(), tmp_path / "cpu", dataset=ds, progress=False)
    gpu = train(small_config(device="gpu"), tmp_path / "gpu", dataset=ds, progress=False)
    assert gpu["test_accuracy"] > 0.9
    assert abs(gpu["test_accuracy"] - cpu["test_accuracy"]) < 0.05
    cpu_loss = [float(r["train_loss"]) for r in read_rows(tmp_path / "cpu")]
    gpu_loss = [float(r["train_loss"]) for r in read_rows(tmp_path / "gpu")]
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=0.05)


# NumPy warns about the overflow on the way; the point is the error that follows.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_divergence_is_reported_as_such(tmp_path):
    with pytest.raises(FloatingPointError, match="training diverged at iteration .*try a smaller --lr"):
        train(small_config(lr=1e4, max_iter=30), tmp_path / "r", dataset=toy_digits(), progress=False)


def test_importing_training_leaves_the_matplotlib_backend_alone():
    import subprocess
    import sys

    code = ("import matplotlib; before = matplotlib.get_backend(); import emsm_np.training; "
            "print(before == matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MPLBACKEND": "svg"})
    assert out.stdout.strip() == "True"
