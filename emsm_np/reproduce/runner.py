"""Run every (data set, setting, seed) of an experiment with the training loop, resumably.

Each run has its own directory, ``OUT/<dataset>/<setting>/seed-<k>/``, with the
training loop's ``config.json``, ``metrics.csv``, ``checkpoint.npz`` and
``summary.json``. Running the same command again skips every finished run,
resumes every interrupted one from its checkpoint
(:func:`emsm_np.training.train` with ``resume=True``, which ends with the same
numbers as an uninterrupted run), and refuses a directory that holds a run of
another configuration. A run that diverged is recorded, not retried (it would
diverge again: everything random is seeded).

Two machines' worth of cores, or two cores: the same command started twice (or more) shares
the work. Each process claims a run before training it (``reproduce.lock`` in the run
directory, created atomically, holding the process id and the host, removed when the run
ends) and skips a run that a live process holds; a lock left by a killed process is taken
over. The process that finishes last writes the complete table (it reads the summaries of the
runs the others trained); running the command once more, which trains nothing, does too.
"""
import dataclasses
import json
import os
import socket
import time

from ..data import DataNotFoundError, load_dataset
from ..training import TrainConfig, train
from ..training.config import read_config
from ..training.loop import TrainingDiverged
from .experiments import EXPERIMENTS, PRESETS, settings
from .report import write_report


def run_dir_of(out, dataset, setting, seed):
    return os.path.join(out, dataset, setting.key, f"seed-{seed}")


def plan(experiment, preset, seeds, data_dir=None, device=None, margin=None, hsic_gradient=None, datasets=None,
         compared=None):
    """``[(dataset, setting, seed, resolved TrainConfig)]``, every config validated before anything runs."""
    p = PRESETS[preset]
    out = []
    for ds in datasets or p.datasets[experiment]:
        for setting in settings(experiment, p, compared):
            fields = dict(p.base(ds), dataset=ds, device=device or p.device, **setting.fields)
            if margin is not None and fields["loss"] in ("m-softmax", "em-softmax"):
                fields["margin"] = margin
            if hsic_gradient is not None:
                fields["hsic_gradient"] = hsic_gradient
            if experiment != "margin":  # only the margin search holds images out
                fields["validation"] = 0
            if data_dir is not None:
                fields["data_dir"] = data_dir
            for seed in range(seeds):
                out.append((ds, setting, seed, TrainConfig(**fields, seed=seed).resolved()))
    return out


def _same_config(saved, wanted):
    a, b = dataclasses.asdict(saved), dataclasses.asdict(wanted)
    a.pop("data_dir"), b.pop("data_dir")  # where the files are does not change the run
    return [f"{k} {a[k]!r} (wanted {b[k]!r})" for k in a if a[k] != b[k]]


LOCK = "reproduce.lock"


def _lock_owner(path):
    """``(pid, host)`` written in a lock file, or None if it is unreadable (being written, or gone)."""
    try:
        with open(path) as f:
            pid, host = f.read().split()
        return int(pid), host
    except (OSError, ValueError):
        return None


def _alive(pid, host):
    if host != socket.gethostname():
        return True  # another machine's process: it cannot be checked from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(run_dir):
    """Claim ``run_dir`` for this process; return None, or ``(pid, host)`` of the live process that holds it."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            owner = _lock_owner(path)
            if owner is None:  # its owner is writing it this instant
                time.sleep(0.1)
                owner = _lock_owner(path)
            if owner is not None and owner != (os.getpid(), socket.gethostname()) and _alive(*owner):
                return owner
            try:  # a killed process's lock (or our own): take it over
                os.remove(path)
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        return None
    raise ValueError(f"--out: cannot claim {run_dir}: its {LOCK} keeps changing; is another process "
                     f"removing it?")


def release(run_dir):
    """Remove this process's claim on ``run_dir`` (nothing if the lock is another's or gone)."""
    path = os.path.join(run_dir, LOCK)
    if _lock_owner(path) == (os.getpid(), socket.gethostname()):
        os.remove(path)


def _finished(run_dir):
    """The summary of a finished run in ``run_dir``, or None."""
    path = os.path.join(run_dir, "summary.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def run_one(cfg, run_dir, dataset, log=print):
    """Train, resume or skip the run in ``run_dir``; return ``(summary dict, what was done)``."""
    cfg_path = os.path.join(run_dir, "config.json")
    if os.path.isfile(cfg_path):
        clash = _same_config(read_config(cfg_path), cfg)
        if clash:
            raise ValueError(f"--out: {run_dir} holds a run of another configuration ({', '.join(clash)}); "
                             f"remove it or choose another --out")
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.isfile(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
        if summary.get("status") == "diverged":
            return summary, "diverged before, not retried"
        if summary.get("iterations") == cfg.max_iter:
            return summary, "done before, skipped"
    try:
        if os.path.isfile(os.path.join(run_dir, "checkpoint.npz")):
            return train(None, run_dir, resume=True, dataset=dataset, progress=False, log=log), "resumed"
        stale = os.path.join(run_dir, "metrics.csv")  # a kill between an evaluation and its checkpoint
        if os.path.isfile(stale):
            os.remove(stale)
        return train(cfg, run_dir, dataset=dataset, progress=False, log=log), "trained"
    except TrainingDiverged as exc:
        return {"status": "diverged", "message": str(exc)}, "diverged"


def run_experiment(experiment, preset="cpu", seeds=None, out=None, data_dir=None, device=None, margin=None,
                   hsic_gradient=None, datasets=None, command=None, log=print, compared=None):
    """Run ``experiment`` (one of :data:`EXPERIMENTS`) under ``preset`` and write its report.

    ``compared``: table1 with the rows of the losses the paper compares EM-Softmax with
    (default: the preset's, on for gpu); the other rows and their runs are the same either way.

    Returns the report (a dict, also ``OUT/results.json``); the Markdown table is
    ``OUT/results.md``, the per-run rows ``OUT/runs.csv``, the figure ``OUT/<experiment>.png``.
    A data set whose files are not found (never downloaded here, except MNIST) is
    reported as such instead of run.
    """
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {experiment!r}")
    if preset not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    seeds = PRESETS[preset].seeds if seeds is None else seeds
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"--seeds must be a positive integer, got {seeds!r}")
    if margin is not None and experiment == "margin":
        raise ValueError("--margin: the margin experiment searches m itself; leave --margin out")
    if compared and experiment != "table1":
        raise ValueError(f"--compared: the compared losses are rows of table1 only, not of {experiment}")
    out = out or os.path.join("runs", "reproduce", f"{experiment}-{preset}")
    runs = plan(experiment, preset, seeds, data_dir, device, margin, hsic_gradient, datasets, compared)
    if runs[0][3].device == "gpu":
        from ..backend import get_cupy

        get_cupy()  # a clear error now, not after loading the data
    _say_plan(runs, out, preset, log)

    results, missing, loaded = [], {}, {}
    for i, (ds_name, setting, seed, cfg) in enumerate(runs, 1):
        if ds_name in missing:
            continue
        if ds_name not in loaded:
            try:  # MNIST downloads as emsm train does; the 170 MB CIFAR archives are never fetched here
                loaded = {ds_name: load_dataset(ds_name, data_dir=cfg.data_dir, download="mnist" in ds_name)}
            except DataNotFoundError as exc:
                missing[ds_name] = str(exc)
                log(f"{ds_name}: data not found, skipped ({missing[ds_name].splitlines()[0]})")
                continue
        run_dir = run_dir_of(out, ds_name, setting, seed)
        t0 = time.perf_counter()
        holder = claim(run_dir)
        if holder is not None:
            results.append({"dataset": ds_name, "setting": setting.key, "seed": seed, "status": "elsewhere",
                            "test_accuracy": None, "val_accuracy": None, "wall_time": None,
                            "run_dir": os.path.abspath(run_dir)})
            log(f"[{i}/{len(runs)}] {ds_name} / {setting.label} / seed {seed}: being trained by process "
                f"{holder[0]} on {holder[1]}, left to it")
            continue
        try:
            summary, done = run_one(cfg, run_dir, loaded[ds_name], log=lambda m: log("    " + m))
        finally:
            release(run_dir)
        results.append({"dataset": ds_name, "setting": setting.key, "seed": seed, "status": summary.get("status"),
                        "test_accuracy": summary.get("test_accuracy"), "val_accuracy": summary.get("val_accuracy"),
                        "wall_time": summary.get("wall_time"), "run_dir": os.path.abspath(run_dir)})
        acc = summary.get("test_accuracy")
        acc = f"{100 * acc:.2f} % test" if acc is not None else summary.get("status")
        log(f"[{i}/{len(runs)}] {ds_name} / {setting.label} / seed {seed}: {acc} ({done}, "
            f"{time.perf_counter() - t0:.0f} s)")
    waiting = 0
    for r in results:  # the runs another process was training: finished since?
        if r["status"] == "elsewhere":
            summary = _finished(r["run_dir"])
            if summary is None or (summary.get("status") != "diverged" and summary.get("test_accuracy") is None):
                waiting += 1
                continue
            r.update(status=summary.get("status"), test_accuracy=summary.get("test_accuracy"),
                     val_accuracy=summary.get("val_accuracy"), wall_time=summary.get("wall_time"))
    if waiting:
        log(f"{waiting} runs were still being trained by another process: the table leaves them out; the "
            "process that finishes last, or the same command run again, writes the complete table")
    command = command or f"emsm reproduce {experiment} --preset {preset} --seeds {seeds}"
    return write_report(out, experiment, PRESETS[preset], seeds, runs, results, missing, command,
                        hsic_gradient or "exact")


def _say_plan(runs, out, preset, log):
    todo = sum(1 for ds, s, seed, cfg in runs
               if not os.path.isfile(os.path.join(run_dir_of(out, ds, s, seed), "summary.json")))
    line = f"{len(runs)} runs into {out} ({len(runs) - todo} finished before)"
    per_it = PRESETS[preset].seconds_per_iteration
    if per_it and todo:
        hours = todo * runs[0][3].max_iter * per_it / 3600
        line += f"; about {hours:.1f} h for the rest at ~{per_it} s an iteration on 2 cores"
    log(line)
