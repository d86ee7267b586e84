"""The GPU path end to end: a training step that copies nothing to the host, the training
loop, the command line, CPU/GPU parity and tutorial 07.

These run wherever a GPU is usable: on real CuPy, and on every CI run under the CuPy double
(``EMSM_CUPY_DOUBLE=1``, emsm_np.testing.cupy_double), which enforces CuPy's rules on the CPU
and counts device-to-host transfers. The tests that read those counts need the double.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import no_device_to_host_transfer

from emsm_np.backend import asnumpy
from emsm_np.cli import main
from emsm_np.models import build_network
from emsm_np.optim import SGD
from emsm_np.training import TrainConfig, train

pytestmark = pytest.mark.gpu
ROOT = Path(__file__).resolve().parent.parent
HEAD = dict(ensemble=2, margin=0.3, lam=0.01)


def is_double(xp):
    return xp.__name__ == "emsm_np.testing.cupy_double"


def network_and_batch(name, width, batch=8, seed=0):
    net = build_network(name, num_classes=10, width=width, feature_dim=16, **HEAD, seed=seed)
    rng = np.random.default_rng(seed)
    return net, rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)


@pytest.mark.parametrize("name, width", [("lenet", 8), ("liunet-mnist", 8)])
def test_a_training_step_on_the_gpu_copies_nothing_to_the_host(gpu_xp, name, width):
    xp = gpu_xp
    net, x, y = network_and_batch(name, width)
    net.to("gpu")
    opt = SGD(net, lr=0.05, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
    gx, gy = xp.asarray(x), xp.asarray(y)

    def step():
        loss = net.loss(gx, gy)
        net.backward()
        opt.step()
        return loss

    step()  # the first step makes the velocities
    with no_device_to_host_transfer(xp):
        loss = step()
    assert np.isfinite(float(loss))


def test_a_step_on_the_gpu_equals_the_same_step_on_the_cpu(gpu_xp):
    """Same weights and batch: the same loss, gradients and update, to float64 rounding."""
    _, x, y = network_and_batch("lenet", 4)
    cpu_net, gpu_net = (build_network("lenet", num_classes=10, width=4, feature_dim=16, **HEAD, seed=0,
                                      dtype=np.float64) for _ in range(2))
    x = x.astype(np.float64)
    gpu_net.to("gpu")
    results = []
    for net, xb, yb in ((cpu_net, x, y), (gpu_net, gpu_xp.asarray(x), gpu_xp.asarray(y))):
        opt = SGD(net, lr=0.1, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
        loss = net.loss(xb, yb)
        net.backward()
        grads = {k: asnumpy(g).copy() for k, g in net.grads.items()}
        opt.step()
        results.append((float(loss), grads, {k: asnumpy(p) for k, p in net.params.items()}))
    (cpu_loss, cpu_grads, cpu_params), (gpu_loss, gpu_grads, gpu_params) = results
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-12)
    for k in cpu_grads:
        np.testing.assert_allclose(gpu_grads[k], cpu_grads[k], rtol=1e-10, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(gpu_params[k], cpu_params[k], rtol=1e-10, atol=1e-12, err_msg=k)


def sample_config(**kw):
    base = dict(network="lenet", width=4, feature_dim=8, max_iter=20, eval_every=20, milestones=(),
                device="gpu", seed=1)
    base.update(kw)
    return TrainConfig(**base)


def test_the_training_loop_copies_to_the_host_at_evaluations_only(gpu_xp, tmp_path):
    if not is_double(gpu_xp):
        pytest.skip("counts transfers: the CuPy double (EMSM_CUPY_DOUBLE=1) counts them")
    from emsm_np.data import load_dataset

    ds = load_dataset("mnist-sample")
    counts = []
    for iterations in (20, 40):  # one evaluation each; twice the steps
        with gpu_xp.counting() as counter:
            train(sample_config(max_iter=iterations, eval_every=iterations), tmp_path / str(iterations),
                  dataset=ds, progress=False, log=lambda message: None)
        counts.append(counter.transfers)
    assert counts[0] == counts[1], counts  # the 20 more steps copied nothing


def test_emsm_train_on_the_gpu_then_evaluate_and_resume_on_either_device(gpu_xp, tmp_path, capsys, monkeypatch):
    import emsm_np.training as training
    from emsm_np.training.evaluate import model_device

    run = tmp_path / "run"
    args = ["--max-iter", "6", "--eval-every", "3", "--width", "4", "--feature-dim", "8", "--no-progress"]
    assert main(["train", "--device", "gpu", "--run-dir", str(run)] + args) == 0
    trained = json.loads((run / "summary.json").read_text())["test_accuracy"]
    capsys.readouterr()
    evaluated_on, evaluate = [], training.evaluate

    def recording_evaluate(net, *a, **kw):
        evaluated_on.append(model_device(net))
        return evaluate(net, *a, **kw)

    monkeypatch.setattr(training, "evaluate", recording_evaluate)
    for device in ("gpu", "cpu"):
        assert main(["evaluate", str(run), "--device", device]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["test_accuracy"] == pytest.approx(trained, abs=1e-3), device  # float32 rounding
    assert evaluated_on == ["gpu", "cpu"]  # --device is where the network is evaluated
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--max-iter", "9", "--no-progress"]) == 0
    assert "iter 9/9" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["device"] == "gpu"


def test_a_gpu_run_and_a_cpu_run_learn_the_same(gpu_xp, tmp_path):
    """float64, the same seed: the same test accuracy and weights on both devices, to rounding."""
    from emsm_np.data import load_dataset
    from emsm_np.training import load_checkpoint

    ds = load_dataset("mnist-sample")
    cpu = train(sample_config(device="cpu", dtype="float64"), tmp_path / "cpu", dataset=ds, progress=False)
    gpu = train(sample_config(dtype="float64"), tmp_path / "gpu", dataset=ds, progress=False)
    assert gpu["test_accuracy"] == cpu["test_accuracy"]
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.npz")[0] for d in ("cpu", "gpu"))
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-8, atol=1e-10, err_msg=k)


def test_tutorial_07_runs_on_the_gpu(gpu_xp, tmp_path):
    env = dict(os.environ, EMSM_FAST="1", MPLBACKEND="Agg", EMSM_FIGURES_DIR=str(tmp_path))
    python = [sys.executable, "-m", "emsm_np.testing.run_with_double"] if is_double(gpu_xp) else [sys.executable]
    proc = subprocess.run(python + [str(ROOT / "tutorials" / "07_gpu_cupy.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "GPU available:" in proc.stdout and "NOTICE: no usable GPU" not in proc.stdout


def small_sets():
    """An MNIST-like set (the first 176 images of the MNIST sample, not augmented) and a CIFAR-like one
    (176 random 3x32x32 images with CIFAR's augmentation, random_crop_flip): 11 batches of 16 an epoch."""
    from emsm_np.data import load_dataset, random_crop_flip

    mnist = load_dataset("mnist-sample")
    mnist = mnist._replace(x_train=mnist.x_train[:176], y_train=mnist.y_train[:176],
                           x_test=mnist.x_test[:64], y_test=mnist.y_test[:64])
    rng = np.random.default_rng(0)
    cifar = mnist._replace(name="cifar-like+", x_train=rng.standard_normal((176, 3, 32, 32), dtype=np.float32),
                           x_test=rng.standard_normal((64, 3, 32, 32), dtype=np.float32), augment=random_crop_flip)
    return {"mnist-like": mnist, "cifar-like+": cifar}


def counts_per_iteration(xp, monkeypatch, cfg, ds, run_dir):
    """``{iteration: (transfers, uploads, transfer sites)}`` of a GPU run of the training loop, with its
    progress bar. An iteration is counted from the loop's choice of its learning rate to the next's, so
    it holds the batch, the step, the loss watch and the progress bar, and at its interval also an
    evaluation, a checkpoint or a log line."""
    import emsm_np.training.loop as loop

    marks, step_lr = [], loop.step_lr

    def marking_step_lr(base_lr, iteration, milestones):
        marks.append((iteration, counter.transfers, counter.uploads, dict(counter.transfer_sites)))
        return step_lr(base_lr, iteration, milestones)

    monkeypatch.setattr(loop, "step_lr", marking_step_lr)
    with xp.counting() as counter:
        train(cfg, run_dir, dataset=ds, progress=True, log=lambda message: None)
    marks.append((cfg.max_iter, counter.transfers, counter.uploads, dict(counter.transfer_sites)))
    return {it: (t1 - t0, u1 - u0, {k: v - s0.get(k, 0) for k, v in s1.items() if v != s0.get(k, 0)})
            for (it, t0, u0, s0), (_, t1, u1, s1) in zip(marks, marks[1:])}


@pytest.mark.parametrize("data", ["mnist-like", "cifar-like+"])
def test_a_steady_state_training_step_copies_nothing_between_host_and_device(gpu_xp, monkeypatch, tmp_path, data):
    """Issue 23's "no host work between steps": the batch (gathered on the device from the training set,
    copied there once), CIFAR's augmentation, the step, SGD (its learning rate changing at a milestone),
    the loss watch and the progress bar make no transfer and no upload. Copies are left to the first
    iteration, the evaluations and checkpoints, the progress bar's log lines (every 10th iteration), and
    the start of an epoch: its order (and, augmented, its crops and flips) in one upload each."""
    if not is_double(gpu_xp):
        pytest.skip("counts transfers and uploads: the CuPy double (EMSM_CUPY_DOUBLE=1) counts them")
    ds = small_sets()[data]
    cfg = sample_config(max_iter=34, eval_every=17, milestones=(6, 26), batch_size=16)
    per_epoch = len(ds.x_train) // cfg.batch_size
    counts = counts_per_iteration(gpu_xp, monkeypatch, cfg, ds, tmp_path / "run")

    evaluating = {it for it in counts if (it + 1) % cfg.eval_every == 0}
    logging = {it for it in counts if it % 10 == 0}  # the progress bar's loss and lr (_Run.show_step)
    epoch_starts = {it for it in counts if it % per_epoch == 0}
    steady = sorted(set(counts) - {0} - evaluating - logging - epoch_starts)
    assert len(steady) >= 20 and {6, 26} <= set(steady)  # the milestones' steps are among them
    assert {it: counts[it] for it in steady if counts[it][:2] != (0, 0)} == {}
    # An epoch starts with one upload of its order, and one of its draws if augmented; no transfer.
    later_epochs = sorted(epoch_starts - {0} - evaluating - logging)
    assert later_epochs == [11, 22]
    uploads = 1 + (ds.augment is not None)
    assert {it: counts[it][:2] for it in later_epochs} == {it: (0, uploads) for it in later_epochs}


def test_an_augmented_gpu_run_and_cpu_run_learn_the_same(gpu_xp, tmp_path):
    """float64, CIFAR-like data with its augmentation: the GPU run gathers and crops its batches on the
    device, the CPU run on the host; the same batches, so the same weights to rounding (14 iterations:
    into the second epoch)."""
    from emsm_np.training import load_checkpoint

    ds = small_sets()["cifar-like+"]
    for device in ("cpu", "gpu"):
        cfg = sample_config(device=device, dtype="float64", max_iter=14, eval_every=14, batch_size=16)
        train(cfg, tmp_path / device, dataset=ds, progress=False, log=lambda message: None)
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.npz")[0] for d in ("cpu", "gpu"))
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-8, atol=1e-10, err_msg=k)
