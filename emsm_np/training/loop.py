"""The training loop: SGD on a network with the EM-Softmax head, with exact resume.

Everything random is a function of ``(seed, iteration)``: iteration ``t`` is
batch ``b`` of epoch ``e`` (``e, b = divmod(t, N // batch_size)``; the last
partial batch of an epoch is dropped), and the batches are those of
:func:`emsm_np.data.batches` for that epoch (its order drawn from ``(seed, e)``,
the augmentation of batch ``b`` from ``(seed, e, b)``). A run resumed from a
checkpoint at iteration ``t`` therefore sees exactly the batches an
uninterrupted run sees, and (on the CPU) ends with exactly the same numbers,
whatever the number of worker threads.

Ctrl-C (SIGINT) or a polite kill (SIGTERM) finishes the current step, writes
a checkpoint and stops; ``train(..., resume=True)`` continues. A hard kill
loses at most the iterations since the last periodic checkpoint.

The module reads top down as :func:`train` does: its configuration and data, the
session's state (:class:`_Run`: starting or resuming, checkpoints, evaluations),
the loop and its step (:func:`_loop`, :func:`_step`: divergence, Ctrl-C), the
summary, and the not-learning verdict.
"""
import csv
import json
import os
import signal
import time

import numpy as np

from .._checks import NonFiniteError, check_int, non_finite_in
from ..backend import get_array_module, get_cupy, to_device
from ..data import DataNotFoundError, batches, load_dataset, split_validation
from ..models import build_network
from ..optim import SGD, step_lr
from .checkpoint import load_checkpoint, load_model_state, save_checkpoint
from .config import head_options, read_config
from .evaluate import evaluate

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.csv"
CONFIG = "config.json"


class TrainingDiverged(FloatingPointError):
    """Something became NaN or inf during training; the message says what, where and when."""

    def __init__(self, iteration, what, lr):
        super().__init__(f"training diverged at iteration {iteration}: {what}; "
                         f"try a smaller --lr (this run: {lr:g})")
        self.iteration = iteration


class TrainingInterrupted(Exception):
    """Raised after an interrupted run has written its checkpoint."""

    def __init__(self, run_dir, iteration):
        super().__init__(f"interrupted at iteration {iteration}; resume with: emsm train --resume {run_dir}")
        self.run_dir = run_dir
        self.iteration = iteration


def train(config, run_dir, resume=False, dataset=None, progress=True, log=print, max_iter=None):
    """Train; return a summary dict. See the module docstring.

    Parameters
    ----------
    config : TrainConfig (ignored when resuming: the run's config.json is used)
    run_dir : directory for config.json, metrics.csv, checkpoint.npz, plots
    resume : continue the run in ``run_dir`` from its checkpoint
    dataset : an already loaded dataset (tests); default loads ``config.dataset``
    progress : show a tqdm progress bar (without it, one line per evaluation goes to ``log``)
    log : where one-line messages go
    max_iter : with ``resume``, a new (larger) number of iterations: extends the run

    Returns
    -------
    dict with ``run_dir``, ``iterations``, ``test_accuracy``, ``weak_accuracy``,
    ``wall_time``, ``plots``, ``status`` ("ok" or "not learning"), ``learning`` ("above
    chance", "not learning" or "too short to tell", see :func:`_learning`), ``message``
    (the reason, unless "above chance") and ``notes``
    (the warnings printed while it ran), and with ``config.validation`` > 0
    ``val_accuracy`` (on the held-out last training images) and ``validation``;
    also written to ``summary.json``.

    Raises
    ------
    TrainingDiverged : something became NaN or inf (``summary.json`` says what and where)
    TrainingInterrupted : Ctrl-C / SIGTERM; the checkpoint is written first
    """
    run_dir = os.path.abspath(run_dir)
    cfg = _resumed_config(run_dir, max_iter) if resume else _new_config(config, run_dir, max_iter)
    if cfg.device == "gpu":
        get_cupy()  # a clear error now, not a silent CPU run

    # Load the data and build the network before creating anything, so that a missing
    # file or a bad switch leaves no half-made run.
    ds = dataset if dataset is not None else load_run_data(cfg.dataset, cfg.data_dir)
    (x_train, y_train), held_out = _training_images(ds, cfg)
    net = build_from_config(cfg, ds.num_classes, x_train.shape[1], x_train.shape[2]).to(cfg.device)

    # Start the run in its folder, or resume it from its checkpoint.
    if not resume:
        _make_run_dir(run_dir)
    if not resume or max_iter is not None:
        _write_config(run_dir, cfg)
    opt = SGD(net, lr=cfg.lr, momentum=cfg.momentum,
              weight_decay=cfg.weight_decay, no_decay=net.no_decay())
    run = _Run(cfg, run_dir, net, opt, ds, held_out, log)
    if resume:
        run.restore()

    # The loop: a step an iteration, an evaluation and a checkpoint every eval_every.
    result, val = _loop(run, x_train, y_train, getattr(ds, "augment", None), progress)

    # Evaluate (unless the loop just did) and write the summary.
    if result is None:  # resumed a run that had already finished
        result, val = run.evaluate_final()
    return _summary(run, result, val)


# ---------------------------------------------------------------- configuration, data, network

def _new_config(config, run_dir, max_iter):
    """The resolved ``config`` of a new run; ``run_dir`` must not hold a run already."""
    if max_iter is not None:
        raise ValueError("max_iter is only for extending a resumed run; set it in the TrainConfig")
    cfg = config.resolved()
    if os.path.exists(os.path.join(run_dir, CHECKPOINT)):
        raise ValueError(f"run directory {run_dir} already holds a run; use --resume or another --run-dir")
    return cfg


def _resumed_config(run_dir, max_iter):
    """The saved configuration of the run in ``run_dir``, extended to ``max_iter`` if given."""
    cfg_path = os.path.join(run_dir, CONFIG)
    if not os.path.isfile(cfg_path):
        raise ValueError(f"--resume: {run_dir} has no {CONFIG}; is it a run directory?")
    cfg = read_config(cfg_path)
    if max_iter is not None:
        max_iter = check_int("max_iter", max_iter, minimum=1)
        meta = load_checkpoint(os.path.join(run_dir, CHECKPOINT))[2]
        if max_iter < meta["iteration"]:
            raise ValueError(f"--max-iter {max_iter} is before the run's checkpoint at iteration "
                             f"{meta['iteration']}; a resumed run can only be extended")
        if cfg.milestones and max_iter <= cfg.milestones[-1]:  # said here: the user gave --max-iter, not these
            raise ValueError(f"--max-iter {max_iter} is not after the run's learning-rate milestones "
                             f"({', '.join(map(str, cfg.milestones))}), which a resumed run keeps; give "
                             f"--max-iter above {cfg.milestones[-1]}")
        cfg.max_iter = max_iter
        cfg = cfg.resolved()
    return cfg


def load_run_data(dataset, data_dir):
    """The data set of a run. A ``data_dir`` (``--data-dir``) is only read: a file missing
    there is a :class:`~emsm_np.data.DataNotFoundError` naming it, never a download into the
    user's folder; without one, missing files are downloaded into ``$EMSM_DATA`` or the cache."""
    try:
        return load_dataset(dataset, data_dir=data_dir, download=data_dir is None)
    except DataNotFoundError as exc:
        if data_dir is None:
            raise
        raise DataNotFoundError(str(exc), f"--data-dir {data_dir}: {exc.summary}; nothing is downloaded into "
                                "a --data-dir (leave it out to download into $EMSM_DATA or the per-user cache)"
                                ) from exc


def _training_images(ds, cfg):
    """``(x_train, y_train), (x_val, y_val)``: the images trained on, and the last ``cfg.validation``
    training images held out before any batching, never trained on (``(None, None)`` without)."""
    x_train, y_train = ds.x_train, ds.y_train
    x_val = y_val = None
    if cfg.validation >= len(x_train):
        raise ValueError(f"--validation {cfg.validation} must be smaller than the training set ({len(x_train)} images)")
    if cfg.validation:
        (x_train, y_train), (x_val, y_val) = split_validation(x_train, y_train, cfg.validation)
    if len(x_train) < cfg.batch_size:
        raise ValueError(f"--batch-size {cfg.batch_size} is larger than the training set ({len(x_train)} images)")
    return (x_train, y_train), (x_val, y_val)


def build_from_config(cfg, num_classes, in_channels, input_size=None):
    """The network of a resolved config, for images of shape (in_channels, input_size, input_size)."""
    dtype = np.float32 if cfg.dtype == "float32" else np.float64
    head, options = head_options(cfg)
    # EM-Softmax's switches are build_network's own arguments; a compared loss's go to its head class
    switches = options if head == "em-softmax" else {"head": head, "head_options": options}
    return build_network(cfg.network, num_classes=num_classes, feature_dim=cfg.feature_dim,
                         activation=cfg.activation, in_channels=in_channels, input_size=input_size,
                         width=cfg.width, dropout=cfg.dropout, dtype=dtype, seed=cfg.seed, **switches)


def _make_run_dir(run_dir):
    """Create the run folder; failing, one line naming it and what to do (not errno's text)."""
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--run-dir {run_dir} cannot be created ({exc.strerror or exc}); give --run-dir "
                         "a path in a writable folder") from exc


def _write_config(run_dir, cfg):
    """config.json: the resolved configuration, which a resumed run reads back."""
    with open(os.path.join(run_dir, CONFIG), "w") as f:
        f.write(cfg.to_json())


# ---------------------------------------------------------------- one session of a run

class _Run:
    """One session of a run: its network and optimiser, its files, and what carries over from
    step to step and, through the checkpoint, from session to session (the training loss since
    the last evaluation, the notes, the time spent). :func:`_loop` drives it."""

    def __init__(self, cfg, run_dir, net, opt, ds, held_out, log):
        self.cfg, self.run_dir, self.net, self.opt, self.ds, self.log = cfg, run_dir, net, opt, ds, log
        self.x_val, self.y_val = held_out
        self.ckpt_path = os.path.join(run_dir, CHECKPOINT)
        self.metrics_path = os.path.join(run_dir, METRICS)
        self.header = _metrics_header(net, cfg)
        self.chance = 1.0 / ds.num_classes
        self.start, self.elapsed, self.notes = 0, 0.0, []
        self.watch = _LossWatch()
        self.bar = None  # the progress bar, while the loop shows one
        self.t0 = None  # when this session's loop started

    def restore(self):
        """Continue from the checkpoint: the network, the optimiser, the loop's state and the
        dropout generators as they were saved; metrics.csv loses the rows written after it."""
        net, opt, ckpt_path = self.net, self.opt, self.ckpt_path
        model_state, optim_state, meta = load_checkpoint(ckpt_path)
        load_model_state(net, model_state, ckpt_path)
        opt.load_state_dict(optim_state)
        self.start, self.elapsed = meta["iteration"], meta["elapsed"]
        self.watch = _LossWatch(meta["loss_sum"], meta["loss_count"])
        self.notes = list(meta.get("notes", []))
        for i, layer in _rng_layers(net):
            layer.rng.bit_generator.state = meta["rng_states"][str(i)]
        _truncate_metrics(self.metrics_path, self.start)
        self.log(f"resuming {self.run_dir} at iteration {self.start}/{self.cfg.max_iter}")

    def wall(self):
        """Seconds of training and evaluation, over every session of this run."""
        return self.elapsed + time.perf_counter() - self.t0

    def say(self, message):
        """One line for the user: above the progress bar if there is one, else to ``log``."""
        (self.bar.write if self.bar is not None else self.log)(message)

    def show_step(self, iteration, loss):
        """Advance the progress bar (if any); every 10th iteration it shows the loss and lr."""
        if self.bar is not None:
            self.bar.update(1)
            if iteration % 10 == 0:  # a logging step: the one copy of the loss to the host
                self.bar.set_postfix(loss=f"{float(loss):.4f}", lr=f"{self.opt.lr:g}")

    def watched_loss(self):
        """``(loss sum, count)`` since the last evaluation, copied to the host. A loss that was
        NaN or inf on the GPU (watched there, :class:`_LossWatch`) is a divergence, raised here."""
        loss_sum, loss_count, first_bad = self.watch.host()
        if first_bad is not None:  # the GPU's loss, watched on the device
            _diverged(self.run_dir, TrainingDiverged(first_bad, "the loss became NaN or inf", self.opt.lr),
                      self.notes)
        return loss_sum, loss_count

    def evaluate_and_checkpoint(self, done, train_loss):
        """At iteration ``done``: evaluate, append the row to metrics.csv, say it, add the
        not-learning note (once), start a new loss sum, and write the checkpoint. Returns the
        test evaluation and the validation accuracy (None without a held-out set)."""
        cfg, net, notes = self.cfg, self.net, self.notes
        ev = evaluate(net, self.ds.x_test, self.ds.y_test)
        row = {"iteration": done, "train_loss": train_loss, "test_accuracy": ev["accuracy"], "lr": self.opt.lr,
               "diversity": net.head.diversity(), "agreement": ev["agreement"], "wall_time": round(self.wall(), 3)}
        row.update({f"weak_accuracy_{v}": a for v, a in enumerate(ev["weak_accuracy"])})
        val = None
        if cfg.validation:
            val = evaluate(net, self.x_val, self.y_val)["accuracy"]
            row["val_accuracy"] = val
        _write_row(self.metrics_path, row, self.header)
        self.say(f"iter {done}/{cfg.max_iter}: test accuracy {100 * ev['accuracy']:.2f}%, "
                 f"train loss {row['train_loss']:.4f}, lr {self.opt.lr:g}, {row['wall_time']:.0f} s")
        note = _not_learning(ev["accuracy"], self.chance, done, cfg)
        if note and not any(n.startswith("not learning") for n in notes):
            notes.append(note)
            self.say(note)
        self.watch.reset()
        self.checkpoint(done)
        return ev, val

    def evaluate_final(self):
        """The test evaluation and validation accuracy of a run whose loop had nothing left to do."""
        result = evaluate(self.net, self.ds.x_test, self.ds.y_test)
        val = evaluate(self.net, self.x_val, self.y_val)["accuracy"] if self.cfg.validation else None
        return result, val

    def checkpoint(self, iteration):
        """Write checkpoint.npz: the network, the optimiser and this state, at ``iteration``."""
        loss_sum, loss_count, _ = self.watch.host()
        meta = {"iteration": iteration, "elapsed": self.wall(), "loss_sum": loss_sum,
                "loss_count": loss_count, "notes": self.notes,
                "rng_states": {str(i): l.rng.bit_generator.state for i, l in _rng_layers(self.net)}}
        save_checkpoint(self.ckpt_path, self.net.state_dict(), self.opt.state_dict(), meta)


def _rng_layers(net):
    """``(index, layer)`` of the feature layers with a random generator (dropout), saved in checkpoints."""
    return [(i, l) for i, l in enumerate(net.features.layers) if isinstance(getattr(l, "rng", None), np.random.Generator)]


def _metrics_header(net, cfg):
    """The columns of metrics.csv."""
    header = ["iteration", "train_loss", "test_accuracy", "lr", "diversity", "agreement", "wall_time"]
    header += [f"weak_accuracy_{v}" for v in range(net.head.ensemble)]  # 1 for the compared losses' heads
    if cfg.validation:
        header.append("val_accuracy")
    return header


def _write_row(path, row, header):
    """Append ``row`` to the CSV file ``path``, with the header first if the file is new."""
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        if new:
            w.writeheader()
        w.writerow(row)


def _truncate_metrics(path, last_iteration):
    """Drop rows written after the checkpoint we resume from (a hard kill can leave some)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, [r for r in reader if int(r["iteration"]) <= last_iteration]
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


# ---------------------------------------------------------------- the loop

def _loop(run, x_train, y_train, augment, progress):
    """Iterations ``run.start`` to ``max_iter``: a step each (:func:`_step`), and every
    ``eval_every`` iterations and at the last an evaluation and a checkpoint. Ctrl-C or SIGTERM
    stops it after the step in hand, with a checkpoint and :class:`TrainingInterrupted`; a
    divergence raises :class:`TrainingDiverged` (summary.json says it). Returns the last
    evaluation and validation accuracy, ``(None, None)`` if it ran no iteration."""
    cfg, net, opt = run.cfg, run.net, run.opt
    if progress:
        from tqdm import tqdm

        run.bar = tqdm(total=cfg.max_iter, initial=run.start, desc=f"{cfg.network}/{cfg.loss}", unit="it",
                       dynamic_ncols=True)
    result = val = None
    stream = _training_batches(x_train, y_train, cfg, augment, run.start)
    run.t0 = time.perf_counter()
    try:
        with _StopRequest() as stop, _raise_on_overflow(cfg.device):
            for it in range(run.start, cfg.max_iter):
                opt.lr = step_lr(cfg.lr, it, cfg.milestones)
                xb, yb = next(stream)
                xb = xb.astype(cfg.dtype, copy=False)  # the data are float32; a float64 run converts
                try:
                    loss = _step(net, opt, xb, yb, it)
                except TrainingDiverged as exc:
                    _diverged(run.run_dir, exc, run.notes)
                run.watch.add(loss, it)
                run.show_step(it, loss)
                done = it + 1
                evaluating = done % cfg.eval_every == 0 or done == cfg.max_iter
                if evaluating or stop.requested:
                    loss_sum, loss_count = run.watched_loss()
                if evaluating:
                    result, val = run.evaluate_and_checkpoint(done, loss_sum / max(1, loss_count))
                if stop.requested and done < cfg.max_iter:
                    run.checkpoint(done)
                    raise TrainingInterrupted(run.run_dir, done)
    finally:
        if run.bar is not None:
            run.bar.close()
    return result, val


def _step(net, opt, xb, yb, iteration):
    """One SGD step; return the loss (a 0-d array on the run's device).

    On the CPU NumPy raises where an inf or NaN is first made (:class:`_raise_on_overflow`),
    and the computation it happens in raises that again as a
    :class:`~emsm_np._checks.NonFiniteError` naming itself: a layer's forward or backward pass
    (:class:`~emsm_np.layers.Sequential`), the head's (:class:`~emsm_np.models.Network`), the SGD
    update (here). The head's check of its inputs raises one too. Each becomes
    :class:`TrainingDiverged`, as does a loss that is not finite, checked at once (reading it
    costs nothing there). On the GPU nothing is read here: the loop watches the loss on the
    device (:class:`_LossWatch`).
    """
    try:
        with non_finite_in("a computation"):  # one that names itself nowhere below
            loss = net.loss(xb, yb)
            if isinstance(loss, np.ndarray) and not np.isfinite(loss):
                raise TrainingDiverged(iteration, f"the loss became {float(loss)}", opt.lr)
            net.backward()
            with non_finite_in("the SGD update"):
                opt.step()
    except NonFiniteError as exc:
        raise TrainingDiverged(iteration, _made_non_finite(exc), opt.lr) from exc
    return loss


def _made_non_finite(exc):
    """What a :class:`~emsm_np._checks.NonFiniteError` of a step says, for :class:`TrainingDiverged`."""
    if exc.where is None:  # the head refused its input
        return f"the features became NaN or inf ({exc})"
    return f"{exc.where} made an inf or NaN ({exc})"


def _diverged(run_dir, exc, notes):
    """Record a divergence in the run's summary.json, then raise it."""
    _write_summary(run_dir, {"run_dir": run_dir, "status": "diverged", "iteration": exc.iteration,
                             "message": str(exc), "notes": notes})
    raise exc


class _raise_on_overflow:
    """On the CPU, make NumPy raise FloatingPointError where an inf or NaN is first made.

    (Instead of a RuntimeWarning and a run that goes on with NaN.) The worker
    threads of :mod:`emsm_np.cpu.threads` run in the caller's context, so they
    raise too. CuPy has no such switch: on the GPU divergence is seen in the loss.
    """

    def __init__(self, device):
        self._state = np.errstate(over="raise", invalid="raise", divide="raise") if device == "cpu" else None

    def __enter__(self):
        if self._state is not None:
            self._state.__enter__()
        return self

    def __exit__(self, *exc):
        if self._state is not None:
            return self._state.__exit__(*exc)
        return False


class _StopRequest:
    """Turn SIGINT/SIGTERM into a flag checked between steps (never mid-update)."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread: signals stay as they are
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


class _LossWatch:
    """The running sum of the training loss since the last evaluation, and the first
    iteration whose loss was not finite, both kept on the loss's device: adding a
    step copies nothing to the host (a stall on a GPU). :meth:`host` copies them, at
    an evaluation, a checkpoint or a logging step only."""

    def __init__(self, loss_sum=0.0, count=0):
        self.total, self.count, self.first_bad = loss_sum, count, None

    def add(self, loss, iteration):
        xp = get_array_module(loss)
        if self.first_bad is None:
            self.first_bad = xp.full((), -1, dtype=np.int64)
            self.total = xp.asarray(self.total, dtype=np.float64)
        self.total = self.total + loss
        self.first_bad = xp.where((self.first_bad < 0) & ~xp.isfinite(loss), iteration, self.first_bad)
        self.count += 1

    def host(self):
        """``(loss sum, count, first non-finite iteration or None)``, copied to the host."""
        bad = -1 if self.first_bad is None else int(self.first_bad)
        return float(self.total), self.count, (bad if bad >= 0 else None)

    def reset(self):
        self.total, self.count = self.total * 0, 0


def batch_position(n, batch_size, iteration):
    """``(epoch, batch)`` of ``iteration``, with ``n // batch_size`` full batches per epoch."""
    return divmod(iteration, max(1, n // batch_size))


def _training_batches(x, y, cfg, augment, start):
    """The training batches from iteration ``start`` on, epoch after epoch: :func:`emsm_np.data.batches`
    of each epoch (full batches only), on the run's device.

    On the GPU the training set is copied there once, here, and stays for the session (as float32,
    MNIST's 60,000 images take about 190 MB of GPU memory, CIFAR's 50,000 about 600 MB): a batch is
    gathered on the device from the epoch's order, and CIFAR's augmentation is made there from the
    epoch's draws (one upload each an epoch), so a step copies nothing between host and device."""
    if cfg.device == "gpu":
        x, y = to_device(x, "gpu"), to_device(y, "gpu")
    epoch, b = batch_position(len(x), cfg.batch_size, start)
    while True:
        yield from batches(x, y, cfg.batch_size, seed=cfg.seed, epoch=epoch, drop_last=True,
                           augment=augment, device=cfg.device, start_batch=b)
        epoch, b = epoch + 1, 0


# ---------------------------------------------------------------- the summary

def _summary(run, result, val):
    """The plots, the verdict and summary.json of a finished run; returns the summary."""
    from .plots import plot_run  # here, not at the top: importing Matplotlib slows `emsm --help`

    cfg, run_dir = run.cfg, run.run_dir
    plots = plot_run(run.metrics_path, run_dir, title=f"{cfg.network} / {cfg.loss} on {cfg.dataset}")
    learning, message = _learning(result["accuracy"], run.chance, cfg.max_iter, cfg)
    summary = {"run_dir": run_dir, "iterations": cfg.max_iter, "test_accuracy": result["accuracy"],
               "weak_accuracy": result["weak_accuracy"], "wall_time": round(run.wall(), 3),
               "plots": plots, "status": "not learning" if learning == "not learning" else "ok", "learning": learning,
               "notes": run.notes}
    if message:
        summary["message"] = message
    if cfg.validation:
        summary["val_accuracy"] = val
        summary["validation"] = cfg.validation
    _write_summary(run_dir, summary)
    return summary


def _write_summary(run_dir, summary):
    """summary.json: what :func:`train` returns, or what a divergence says."""
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


# ---------------------------------------------------------------- not learning

NOT_LEARNING_AFTER = 100  # iterations: a shorter run is too short to call
CHANCE_LEVEL = 1.5  # a test accuracy below 1.5 x chance (15 % of 10 classes) is "at chance level"


def _judged(iteration, cfg):
    """Whether a run at ``iteration`` is long enough to be called not learning: two evaluations and
    :data:`NOT_LEARNING_AFTER` iterations (before that, batch norm's running statistics alone can
    hold a healthy network's test accuracy at chance: a 6-iteration run of the defaults scores ~10 %)."""
    return iteration >= max(2 * cfg.eval_every, NOT_LEARNING_AFTER)


def _not_learning(accuracy, chance, iteration, cfg):
    """A note if the test accuracy is still at chance level (below :data:`CHANCE_LEVEL` x chance)
    at an ``iteration`` long enough to judge (:func:`_judged`), else None."""
    if not _judged(iteration, cfg) or accuracy >= CHANCE_LEVEL * chance:
        return None
    return (f"not learning: test accuracy {100 * accuracy:.1f}% after {iteration} iterations is chance "
            f"level ({100 * chance:.1f}%); the network may be dead (constant features, every ReLU off): "
            f"try a smaller --lr (this run: {cfg.lr:g})")


def _learning(accuracy, chance, iterations, cfg):
    """The verdict of a finished run, ``(learning, message)``: "above chance" (message None) if its
    final test accuracy is at least :data:`CHANCE_LEVEL` x chance (which says it is not dead, not that
    it learned much: a barely trained network's random features can score 16 % of MNIST); else
    "not learning" with the not-learning note if the run was long enough to judge (:func:`_judged`),
    else "too short to tell" with a sentence saying so."""
    if accuracy >= CHANCE_LEVEL * chance:
        return "above chance", None
    note = _not_learning(accuracy, chance, iterations, cfg)
    if note:
        return "not learning", note
    return "too short to tell", (
        f"too short to tell whether it learns: test accuracy {100 * accuracy:.1f}% after {iterations} iterations "
        f"is near chance level ({100 * chance:.1f}%), as it may be this early; a run is judged from "
        f"{max(2 * cfg.eval_every, NOT_LEARNING_AFTER)} iterations on (--max-iter)")
