"""Training loop: loss falls, accuracy above chance, exact resume, checkpoints, config checks."""
import csv
import json
import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest

from emsm_np.training import (
    SCHEDULES,
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
    """lenet at width 8 (8/16 filters): every layer and code path of the default network, at a
    third of the cost of its default width, so that the wiring tests stay in the fast tier."""
    base = dict(network="lenet", loss="em-softmax", feature_dim=16, width=8, max_iter=40, eval_every=10,
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
    handler_before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="interrupted at iteration 17"):
        train(small_config(), tmp_path / "cut", dataset=ds, progress=False)
    monkeypatch.setattr(loop.SGD, "step", original_step)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.npz")[2]["iteration"] == 17
    assert signal.getsignal(signal.SIGINT) is handler_before  # handler restored

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


def interrupt_at(iteration):
    """A ``log`` for train() that sends this process Ctrl-C (SIGINT) when ``iteration`` is evaluated."""
    def log(message):
        if message.startswith(f"iter {iteration}/"):
            os.kill(os.getpid(), signal.SIGINT)
    return log


def reference_and_cut_run(tmp_path, ds):
    """A 40-iteration run, and a run of the same configuration interrupted by
    Ctrl-C after iteration 20."""
    ref = train(small_config(), tmp_path / "ref", dataset=ds, progress=False)
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="interrupted at iteration 20"):
        train(small_config(), run, dataset=ds, progress=False, log=interrupt_at(20))
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


def test_runs_with_1_2_or_3_threads_are_bit_identical_and_resume_with_any(tmp_path, monkeypatch):
    from emsm_np.cpu import threads

    monkeypatch.setattr(threads, "MIN_PARALLEL_SIZE", 0)  # split every operation, however small
    before = threads.num_threads()
    ds = toy_digits()
    try:
        runs = []
        for n in (1, 2, 3):
            threads.set_num_threads(n)
            train(small_config(), tmp_path / f"t{n}", dataset=ds, progress=False)
            runs.append(tmp_path / f"t{n}")
        # interrupted with 2 threads, resumed with 3
        threads.set_num_threads(2)
        with pytest.raises(TrainingInterrupted):
            train(small_config(), tmp_path / "cut", dataset=ds, progress=False, log=interrupt_at(20))
        threads.set_num_threads(3)
        train(None, tmp_path / "cut", resume=True, dataset=ds, progress=False)
        runs.append(tmp_path / "cut")
    finally:
        threads.set_num_threads(before)
    same = ("iteration", "train_loss", "test_accuracy", "diversity", "agreement")
    first_rows = [[r[k] for k in same] for r in read_rows(runs[0])]
    first_w = load_checkpoint(runs[0] / "checkpoint.npz")[0]
    for run in runs[1:]:
        assert [[r[k] for k in same] for r in read_rows(run)] == first_rows, run
        weights = load_checkpoint(run / "checkpoint.npz")[0]
        assert all(np.array_equal(first_w[k], weights[k]) for k in first_w), run


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
        ({"loss": "m-softmax", "ensemble": 2}, r"--loss m-softmax uses one classifier"),
        ({"hsic_gradient": "half"}, r"hsic_gradient must be one of 'exact', 'paper'; got 'half'"),
        ({"device": "tpu"}, r"device must be one of 'cpu', 'gpu'"),
        ({"feature_dim": 0}, r"feature_dim must be >= 1, got 0"),
        ({"eval_every": 0}, r"eval_every must be >= 1, got 0"),
    ],
)
def test_bad_configurations_are_rejected_naming_the_option(kw, message):
    with pytest.raises((ValueError, TypeError), match=message):
        small_config(**kw).resolved()


def test_an_existing_run_is_not_overwritten(tmp_path):
    ds = toy_digits(n_train=64, n_test=32)
    train(small_config(max_iter=2, eval_every=2, milestones=()), tmp_path / "r", dataset=ds, progress=False)
    with pytest.raises(ValueError, match="already holds a run; use --resume"):
        train(small_config(max_iter=2, milestones=()), tmp_path / "r", dataset=ds, progress=False)


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
        train(small_config(lr=1e30, max_iter=30, milestones=()), tmp_path / "r", dataset=toy_digits(), progress=False)


def test_importing_training_leaves_the_matplotlib_backend_alone():
    import subprocess
    import sys

    code = ("import matplotlib; before = matplotlib.get_backend(); import emsm_np.training; "
            "print(before == matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MPLBACKEND": "svg"})
    assert out.stdout.strip() == "True"


def test_divergence_names_the_layer_and_pass_where_inf_first_appears_and_warns_nothing(tmp_path):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FloatingPointError) as info:
            train(small_config(lr=1e30, max_iter=30, milestones=()), tmp_path / "r", dataset=toy_digits(),
                  progress=False)
    message = str(info.value)
    assert info.value.iteration == 1
    assert message.startswith("training diverged at iteration 1: the forward pass of layer ")
    assert "try a smaller --lr (this run: 1e+30)" in message
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["iteration"] == 1 and summary["message"] == message


def test_divergence_in_the_worker_threads_is_caught_where_it_happens(tmp_path):
    from emsm_np.cpu import threads as parallel

    before = parallel.num_threads()
    try:
        parallel.set_num_threads(2)  # the convolutions run in two worker threads
        with pytest.raises(FloatingPointError, match=r"the (forward|backward) pass of layer \d+ \(Conv2d\)"):
            train(small_config(lr=1e30, max_iter=30, milestones=()), tmp_path / "r", dataset=toy_digits(),
                  progress=False)
    finally:
        parallel.set_num_threads(before)


def test_a_run_that_stays_at_chance_says_not_learning_while_it_runs_and_in_its_summary(tmp_path):
    ds = toy_digits()
    # Blank images: every feature is the same, so every test image gets the same class, and
    # with balanced test labels the accuracy is exactly chance (25%).
    ds.x_train, ds.x_test = np.zeros_like(ds.x_train), np.zeros_like(ds.x_test)
    ds.y_test = np.arange(len(ds.y_test)) % 4
    messages = []
    summary = train(small_config(max_iter=150, eval_every=50, milestones=(), width=4), tmp_path / "r", dataset=ds,
                    progress=False, log=messages.append)
    assert [float(r["test_accuracy"]) for r in read_rows(tmp_path / "r")] == [0.25, 0.25, 0.25]
    notes = [m for m in messages if m.startswith("not learning")]
    assert notes == ["not learning: test accuracy 25.0% after 100 iterations is chance level (25.0%); the network "
                     "may be dead (constant features, every ReLU off): try a smaller --lr (this run: 0.02)"]
    assert messages.index(notes[0]) < len(messages) - 1  # said while it ran, before the last evaluation
    assert summary["status"] == "not learning" and summary["notes"] == notes
    saved = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert saved["status"] == "not learning" and saved["notes"] == notes


def test_a_run_too_short_to_judge_is_not_called_not_learning(tmp_path):
    ds = toy_digits()
    ds.x_train, ds.x_test = np.zeros_like(ds.x_train), np.zeros_like(ds.x_test)
    summary = train(small_config(max_iter=4, eval_every=1, milestones=(), width=4), tmp_path / "r", dataset=ds,
                    progress=False)
    assert summary["status"] == "ok" and summary["notes"] == []


def test_a_learning_run_has_status_ok_and_no_notes(tmp_path):
    summary = train(small_config(), tmp_path / "r", dataset=toy_digits(), progress=False)
    assert summary["status"] == "ok" and summary["notes"] == []


def test_without_a_progress_bar_each_evaluation_prints_one_line(tmp_path):
    messages = []
    train(small_config(), tmp_path / "r", dataset=toy_digits(), progress=False, log=messages.append)
    lines = [m for m in messages if m.startswith("iter ")]
    assert [line.split(":")[0] for line in lines] == ["iter 10/40", "iter 20/40", "iter 30/40", "iter 40/40"]
    assert all("test accuracy" in line for line in lines)


def test_resume_with_max_iter_extends_the_run_as_one_longer_run(tmp_path):
    ds = toy_digits()
    ref = train(small_config(max_iter=60, milestones=(30,)), tmp_path / "ref", dataset=ds, progress=False)
    run = tmp_path / "run"
    train(small_config(max_iter=40, milestones=(30,)), run, dataset=ds, progress=False)
    extended = train(None, run, resume=True, dataset=ds, progress=False, max_iter=60)
    assert extended["iterations"] == 60 and extended["test_accuracy"] == ref["test_accuracy"]
    assert json.loads((run / "config.json").read_text())["max_iter"] == 60
    assert [r["iteration"] for r in read_rows(run)] == ["10", "20", "30", "40", "50", "60"]
    ref_w, run_w = (load_checkpoint(d / "checkpoint.npz")[0] for d in (tmp_path / "ref", run))
    assert all(np.array_equal(ref_w[k], run_w[k]) for k in ref_w)


def test_resume_cannot_shorten_a_run_before_its_checkpoint(tmp_path):
    ds = toy_digits()
    train(small_config(max_iter=20, milestones=()), tmp_path / "r", dataset=ds, progress=False)
    with pytest.raises(ValueError, match="--max-iter 10 is before the run's checkpoint at iteration 20"):
        train(None, tmp_path / "r", resume=True, dataset=ds, progress=False, max_iter=10)


def test_default_milestones_stretch_with_max_iter_and_explicit_late_ones_are_refused():
    cfg = TrainConfig(dataset="mnist", max_iter=2000).resolved()
    assert cfg.schedule == "mnist" and cfg.milestones == (800, 1400) and cfg.lr == 0.1
    assert TrainConfig(dataset="mnist").resolved().milestones == (8000, 14000)
    with pytest.raises(ValueError, match=r"milestones must lie before max_iter 2000, got \[8000\]"):
        TrainConfig(dataset="mnist", max_iter=2000, milestones=(8000,)).resolved()
    with pytest.raises(ValueError, match="milestones must increase"):
        TrainConfig(max_iter=100, milestones=(50, 20)).resolved()


@pytest.mark.parametrize("dataset, schedule", [("mnist-sample", "quick"), ("mnist", "mnist"),
                                               ("fashion-mnist", "mnist"), ("cifar10", "cifar10"),
                                               ("cifar10+", "cifar10"), ("cifar100", "cifar100"),
                                               ("cifar100+", "cifar100")])
def test_each_dataset_gets_its_own_schedule_by_default(dataset, schedule):
    cfg = TrainConfig(dataset=dataset).resolved()
    assert cfg.schedule == schedule
    assert (cfg.milestones, cfg.max_iter) == (SCHEDULES[schedule]["milestones"], SCHEDULES[schedule]["max_iter"])


def test_config_paths_are_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    cfg = TrainConfig(data_dir="data").resolved()
    assert cfg.data_dir == str(tmp_path / "data")


def test_config_file_errors_name_the_file(tmp_path):
    from emsm_np.training.config import read_config

    bad = tmp_path / "config.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"{bad}: a config must be a JSON object, got a JSON list"):
        read_config(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=f"{bad}: not valid JSON"):
        read_config(bad)
    bad.write_text(json.dumps({"network": "lenet", "lr": -1}))
    with pytest.raises(ValueError, match=f"{bad}: lr must be > 0"):
        read_config(bad)


# --- the wiring between the config, the network, the optimiser and the data -------------------

def _first_batches(cfg, ds, iterations):
    """The (x, y) batches the loop trains on in its first ``iterations`` steps, read off its rules."""
    from emsm_np.data import epoch_order

    out = []
    for it in range(iterations):
        epoch, b = batch_position(len(ds.x_train), cfg.batch_size, it)
        idx = epoch_order(len(ds.x_train), cfg.seed, epoch)[b * cfg.batch_size:(b + 1) * cfg.batch_size]
        out.append((ds.x_train[idx], ds.y_train[idx]))
    return out


@pytest.mark.parametrize("loss, normalize", [("softmax", "column"), ("m-softmax", "column"),
                                             ("e-softmax", "frobenius"), ("em-softmax", "centered")])
def test_the_loss_switches_reach_the_head_that_trains(loss, normalize, tmp_path):
    """The first step's loss is the paper's L for the config's V, m, lambda and normalisation."""
    from emsm_np.losses import em_softmax_loss
    from emsm_np.training import build_from_config

    ds = toy_digits()
    cfg = small_config(loss=loss, normalize=normalize, max_iter=1, eval_every=1, milestones=(),
                       dtype="float64").resolved()
    net = build_from_config(cfg, ds.num_classes, 1, 28)
    assert (net.head.ensemble, net.head.margin, net.head.lam, net.head.normalize) == \
        (cfg.ensemble, cfg.margin, cfg.lam, normalize)
    (xb, yb), = _first_batches(cfg, ds, 1)
    xb = xb.astype(np.float64)
    expected, _, _ = em_softmax_loss(net.features.forward(xb, train=True), net.head.params["weight"], yb,
                                     margin=cfg.margin, lam=cfg.lam, normalize=normalize)
    train(cfg, tmp_path / "r", dataset=ds, progress=False)
    first_loss = float(read_rows(tmp_path / "r")[0]["train_loss"])
    assert first_loss == pytest.approx(expected, rel=1e-12)


def test_two_loop_steps_are_sgd_with_the_configs_lr_momentum_and_weight_decay(tmp_path):
    from emsm_np.training import build_from_config

    ds = toy_digits()
    cfg = small_config(max_iter=2, eval_every=2, milestones=(), lr=0.05, momentum=0.8, weight_decay=0.01,
                       dtype="float64").resolved()
    net = build_from_config(cfg, ds.num_classes, 1, 28)
    no_decay, velocity = set(net.no_decay()), {}
    for xb, yb in _first_batches(cfg, ds, 2):
        net.loss(xb.astype(np.float64), yb)
        net.backward()
        for name, w in net.params.items():
            g = net.grads[name] + (0.0 if name in no_decay else cfg.weight_decay) * w
            velocity[name] = cfg.momentum * velocity.get(name, 0.0) + g
            w -= cfg.lr * velocity[name]
    train(cfg, tmp_path / "r", dataset=ds, progress=False)
    model, optim, _ = load_checkpoint(tmp_path / "r" / "checkpoint.npz")
    state = net.state_dict()
    assert set(state) == set(model)
    for k in state:
        np.testing.assert_allclose(model[k], state[k], rtol=1e-10, atol=1e-12, err_msg=k)
    for name, v in velocity.items():
        np.testing.assert_allclose(optim[f"velocity.{name}"], v, rtol=1e-10, atol=1e-12, err_msg=name)


def test_augmentation_runs_on_every_batch_and_differs_between_epochs(tmp_path):
    ds = toy_digits(n_train=64)
    draws = []

    def augment(xb, rng):
        draws.append(int(rng.integers(1 << 30)))
        return xb + 0.0

    ds.augment = augment
    train(small_config(max_iter=6, eval_every=6, milestones=()), tmp_path / "r", dataset=ds, progress=False)
    assert len(draws) == 6  # 2 batches of 32 per epoch, 3 epochs
    assert len(set(draws)) == 6  # no two batches, and no two epochs, share their augmentation


def test_resume_of_a_network_with_batch_norm_and_dropout_is_bit_identical(tmp_path):
    ds = toy_digits()
    cfg = dict(dropout=0.5)
    ref = train(small_config(**cfg), tmp_path / "ref", dataset=ds, progress=False)
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train(small_config(**cfg), run, dataset=ds, progress=False, log=interrupt_at(20))
    resumed = train(None, run, resume=True, dataset=ds, progress=False)
    assert resumed["test_accuracy"] == ref["test_accuracy"]
    ref_w, run_w = (load_checkpoint(d / "checkpoint.npz")[0] for d in (tmp_path / "ref", run))
    assert any("running_mean" in k for k in ref_w)  # the FC layer's batch norm
    assert all(np.array_equal(ref_w[k], run_w[k]) for k in ref_w)
    same = ("iteration", "train_loss", "test_accuracy", "diversity", "agreement")
    assert [[r[k] for k in same] for r in read_rows(run)] == [[r[k] for k in same] for r in read_rows(tmp_path / "ref")]


def test_dropout_changes_training_and_its_masks_come_from_the_seed(tmp_path):
    ds = toy_digits()
    plain = train(small_config(max_iter=10, eval_every=10, milestones=()), tmp_path / "a", dataset=ds,
                  progress=False)
    drop = [train(small_config(max_iter=10, eval_every=10, milestones=(), dropout=0.5), tmp_path / d,
                  dataset=ds, progress=False) for d in ("b", "c")]
    a, b, c = (load_checkpoint(tmp_path / d / "checkpoint.npz")[0] for d in "abc")
    assert not all(np.array_equal(a[k], b[k]) for k in a)   # the masks act
    assert all(np.array_equal(b[k], c[k]) for k in b)       # the same masks for the same seed
    assert drop[0]["test_accuracy"] == drop[1]["test_accuracy"] and plain["status"] == "ok"


def test_an_unresolved_config_round_trips_through_json():
    """config.json may hold a config before resolution (milestones still None: the schedule's)."""
    cfg = TrainConfig(max_iter=50)
    assert cfg.milestones is None
    back = TrainConfig.from_json(cfg.to_json())
    assert back.milestones is None and back.resolved().milestones == cfg.resolved().milestones


def test_a_new_run_may_go_into_an_existing_empty_folder_and_lists_its_plots(tmp_path):
    (tmp_path / "r").mkdir()
    summary = train(small_config(max_iter=2, eval_every=2, milestones=()), tmp_path / "r",
                    dataset=toy_digits(n_train=64, n_test=32), progress=False, log=lambda m: None)
    assert sorted(os.path.basename(p) for p in summary["plots"]) == ["accuracy.png", "loss.png"]


def test_every_training_batch_is_full_also_at_the_end_of_an_epoch(tmp_path, monkeypatch):
    """70 images, batches of 32: two full batches an epoch, the last 6 images left for the next
    epoch's shuffle (drop_last), never a batch of 6 with another batch size's statistics."""
    import emsm_np.training.loop as loop

    sizes = []
    original = loop._step

    def record(net, opt, xb, yb, it):
        sizes.append(len(yb))
        return original(net, opt, xb, yb, it)

    monkeypatch.setattr(loop, "_step", record)
    train(small_config(max_iter=5, eval_every=5, milestones=()), tmp_path / "r",
          dataset=toy_digits(n_train=70, n_test=32), progress=False, log=lambda m: None)
    assert sizes == [32] * 5
