"""The prepared check for a real GPU: tests, parity, the step against PyTorch, the paper's recipe.

Not a test: a measurement, for the rare session that is lent a GPU (issue 23; the one command
that runs it there is ``benchmarks/gpu_session.sh``, and ``docs/results/gpu.md`` says how to call
it). It needs no network and nothing beyond what such a machine has (CuPy, NumPy, PyTorch with
CUDA, pytest, pytest-xdist, tqdm, threadpoolctl, scipy, matplotlib), and runs from the checkout.
Four sections, in this order (``--sections`` picks some):

``tests``
    The GPU tests on real CuPy, ``python -m pytest -q -m gpu`` with ``CUPY_TF32=0``; the full
    output goes to ``pytest_gpu.log``, the results file gets the summary, the failures and the
    reasons for skips.
``parity``
    One float64 training step of lenet and of liunet-mnist on the CPU and on the GPU, from the
    same weights and batch: the loss, every gradient and the updated weights, as the largest
    relative difference ``max|cpu - gpu| / max|cpu|`` of each.
``step``
    One training step (forward, EM-Softmax loss V=2, m=0.3, lambda=0.01, backward, momentum SGD
    with weight decay; float32) of lenet and liunet-mnist at batch 128 and 64 against the same
    network in PyTorch on the same GPU (``bench_train_step.torch_twin``: the same weights),
    each side timed by CUDA events around each step, the median of ``--steps`` steps after
    warm-up, with TF32 off and on: on both sides the same mode, CuPy's compute type
    (:func:`emsm_np.backend.set_tf32`) and ``torch.backends.cuda.matmul.allow_tf32`` with
    ``torch.backends.cudnn.allow_tf32``; a probe of each mode's rounding comes first.
``train``
    ``emsm train --device gpu --dataset mnist --network liunet-mnist`` with the paper's recipe to
    the end (its mnist schedule: 20,000 iterations at batch 128, lr 0.1 divided by 10 at 8,000
    and 14,000, an evaluation every 1,000), EM-Softmax at its defaults, then Softmax if at least
    a minute of the section's time is left; each run's output goes to ``train_<loss>.log``.

The results file (``--out``, Markdown) is written line by line as the sections produce them:
a time-out or a crash keeps every line written before it, and a section that raises is
reported (its traceback) and the next one runs. ``--budget-s`` bounds the whole run and
``--limit SECTION=SECONDS`` one section; the training runs get what is left. A section stopped
at its limit says so: a subprocess (pytest, emsm train) gets Ctrl-C first, so pytest prints its
summary and emsm train checkpoints. Exit status 0 if no section failed (one cut short by its
time limit is not a failure: the file says so), 1 if one did, 3 without a usable GPU, 130 if
interrupted.

Run on a CUDA machine, from the repository root::

    PYTHONPATH=. python3 benchmarks/gpu_check.py --data-dir MNIST_DIR --out gpu_check.md

``--smoke`` runs every section at toy sizes on the embedded MNIST sample, without PyTorch: CI
runs it under the CuPy double, so that the script cannot rot between GPU sessions (its figures
mean nothing)::

    python -m emsm_np.testing.run_with_double benchmarks/gpu_check.py --smoke --out gpu_check.md

which installs the double as ``cupy`` before the script runs, and sets ``EMSM_CUPY_DOUBLE=1``
so that the GPU tests it starts in a subprocess run under the double too (and the training
runs, which it starts through the double's entry point).
"""
import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)  # bench_train_step, the PyTorch twin
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)  # emsm_np from this checkout, also when it is not installed

from emsm_np.backend import GPUUnavailableError, asnumpy, get_cupy, set_tf32, tf32_enabled  # noqa: E402
from emsm_np.models import build_network  # noqa: E402
from emsm_np.optim import SGD  # noqa: E402

HEAD = dict(ensemble=2, margin=0.3, lam=0.01, normalize="column")  # as bench_train_step's
ORDER = ("tests", "parity", "step", "train")
TITLES = {
    "tests": "The GPU tests on this CuPy",
    "parity": "CPU/GPU parity in float64",
    "step": "One training step against PyTorch",
    "train": "The paper's recipe for liunet-mnist, to the end",
}
GRACE_S = {"tests": 45, "train": 90}  # a subprocess's time after its Ctrl-C before the section is cut off
WARMUP = 5  # steps before timing: CuPy compiles its kernels, both memory pools fill
SECOND_RUN_MIN_S = 60  # the Softmax run starts only with this much of the section's time left
TF32_SEEN = 1e-5  # a float32 product this far from float64 (relative) rounded its inputs to TF32


# --------------------------------------------------------------------------- the results file

class Report:
    """The results file, written line by line: each line is appended and flushed as it comes,
    so a time-out or a crash keeps everything written before it. Lines are echoed to stdout."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w"):
            pass

    def __call__(self, *lines):
        with open(self.path, "a") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())
        print("\n".join(lines), flush=True)


class SectionTimeout(Exception):
    """A section ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds):
    """Raise :class:`SectionTimeout` in the block after ``seconds`` (None: no limit)."""
    if seconds is None or not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum, frame):
        raise SectionTimeout()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_sections(report, plan, ctx, limit_for=lambda name: None):
    """Run the sections of ``plan``, ``[(name, title, function)]``, in order; each writes its own
    lines through ``report`` as it goes, and ends with a status line. ``function(ctx, report,
    deadline)`` returns True (passed), False (failed) or a sentence (it did not fail, but did not
    finish either: the sentence says why); ``deadline`` is a ``time.monotonic()`` or None. ``limit_for(name)`` gives a section's seconds when it starts (None: no limit; 0 or
    less: not run). A section that raises is reported with its traceback, and the next one runs.
    Returns ``{name: True, False or the sentence}`` for the sections that ran."""
    results = {}
    for name, title, function in plan:
        report(f"#### {title}", "")
        limit = limit_for(name)
        if limit is not None and limit <= 0:
            report(f"*Section {name}: not run, the time budget is spent.*", "")
            continue
        t0 = time.monotonic()
        deadline = None if limit is None else t0 + limit
        passed = False
        try:
            with time_limit(None if limit is None else limit + GRACE_S.get(name, 0)):
                passed = function(ctx, report, deadline)
            status = passed if isinstance(passed, str) else "passed" if passed else "FAILED (see above)"
        except SectionTimeout:
            passed = status = f"stopped at its time limit of {limit:.3g} s; the lines above are what it finished"
        except Exception:  # noqa: BLE001 - any error of a section is reported, and the next runs
            report("", "```text", *traceback.format_exc().rstrip().splitlines()[-30:], "```")
            status = "FAILED with the exception above"
        report("", f"*Section {name}: {status} ({time.monotonic() - t0:.0f} s).*", "")
        results[name] = passed
    return results


# --------------------------------------------------------------------------- subprocesses

def run_logged(cmd, log_path, env, deadline, grace=30, on_line=None):
    """Run ``cmd`` in the repository root, its own process group, stdout and stderr into
    ``log_path`` as they come; ``on_line(line)`` for each line. At ``deadline`` (monotonic) the
    group gets SIGINT (Ctrl-C: pytest prints its summary, emsm train checkpoints), and ``grace``
    seconds later SIGKILL. Returns ``(exit status, stopped at the deadline, seconds)``."""
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    follow = _Follow(log_path, on_line)
    stopped, kill_at = False, None
    try:
        while proc.poll() is None:
            follow()
            now = time.monotonic()
            if deadline is not None and now >= deadline and not stopped:
                stopped, kill_at = True, now + grace
                _signal_group(proc, signal.SIGINT)
            elif stopped and now >= kill_at:
                _signal_group(proc, signal.SIGKILL)
            time.sleep(0.25)
    finally:
        if proc.poll() is None:  # the section was cut off (its time limit), or an error
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        follow(final=True)
    return proc.returncode, stopped, time.monotonic() - t0


class _Follow:
    """Hands each new complete line of a growing file to ``on_line``."""

    def __init__(self, path, on_line):
        self.path, self.on_line, self.pos, self.partial = path, on_line, 0, ""

    def __call__(self, final=False):
        if self.on_line is None:
            return
        with open(self.path, errors="replace") as f:
            f.seek(self.pos)
            text = f.read()
            self.pos = f.tell()
        lines = (self.partial + text).split("\n")
        self.partial = "" if final else lines.pop()
        for line in lines:
            if line:
                self.on_line(line.rstrip("\r"))


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _shown(cmd):
    """A command as a user would type it (the interpreter as ``python3``, paths from the root)."""
    words = ["python3" if w == sys.executable else os.path.relpath(w, ROOT) if os.path.isabs(w) and
             w.startswith(ROOT + os.sep) else w for w in cmd]
    return shlex.join(words)


# --------------------------------------------------------------------------- the context

class Context:
    """What the sections share: the switches, CuPy, PyTorch, where the logs go."""

    def __init__(self, args):
        self.args, self.smoke = args, args.smoke
        self.log_dir = args.log_dir or os.path.dirname(os.path.abspath(args.out))
        os.makedirs(self.log_dir, exist_ok=True)
        self.cp = get_cupy()
        self.double = self.cp.__name__ == "emsm_np.testing.cupy_double"
        self._torch = None

    def log(self, name):
        return os.path.join(self.log_dir, name)

    def python(self, *args):
        """A Python command line for a subprocess; under the CuPy double, through its entry point."""
        double = ["-m", "emsm_np.testing.run_with_double"] if self.double else []
        return [sys.executable, *double, *args]

    def child_env(self, **extra):
        env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
        return env

    def torch(self):
        """``(torch, None)``, or ``(None, why not)``."""
        if self._torch is None:
            if self.smoke:
                self._torch = (None, "smoke mode")
            else:
                try:
                    import torch
                except ImportError:
                    self._torch = (None, "PyTorch is not installed")
                except Exception as exc:  # noqa: BLE001 - a broken install (its CUDA libraries) is said
                    self._torch = (None, f"PyTorch does not import: {exc}")
                else:
                    self._torch = (torch, None) if torch.cuda.is_available() else \
                        (None, f"PyTorch {torch.__version__} sees no CUDA device")
        return self._torch


def environment(ctx):
    """The machine and the software, one list item each."""
    cp = ctx.cp
    lines = []
    try:
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        extra = ""
        if "major" in props:
            extra = f", compute capability {props['major']}.{props['minor']}, {props['totalGlobalMem'] / 2**30:.0f} GiB"
        lines.append(f"- device: {name}{extra}")
    except Exception as exc:  # noqa: BLE001 - a fact we could not read is said, not fatal
        lines.append(f"- device: unknown ({exc})")
    versions = [f"CuPy {cp.__version__}"]
    with contextlib.suppress(Exception):
        rt, drv = cp.cuda.runtime.runtimeGetVersion(), cp.cuda.runtime.driverGetVersion()
        versions.append(f"CUDA runtime {rt // 1000}.{rt % 1000 // 10}, driver API {drv // 1000}.{drv % 1000 // 10}")
    versions += [f"NumPy {np.__version__}", f"Python {platform.python_version()}", f"{os.cpu_count()} CPUs"]
    lines.append("- " + "; ".join(versions))
    torch, why = ctx.torch()
    if torch is not None:
        lines.append(f"- PyTorch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
                     f"{torch.backends.cudnn.version()})")
    else:
        lines.append(f"- PyTorch: not used ({why})")
    try:
        git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
        commit = f"commit {git.stdout.strip()}" if git.returncode == 0 else "no git history here"
    except OSError:
        commit = "no git here"
    lines.append(f"- emsm_np: {commit} ({ROOT})")
    lines.append(f"- TF32 at the start: CuPy's float32 products {'TF32' if tf32_enabled() else 'full float32'} "
                 f"(CUPY_TF32={os.environ.get('CUPY_TF32', 'unset')})")
    return lines


# --------------------------------------------------------------------------- the sections

def section_tests(ctx, report, deadline):
    """pytest -m gpu on this CuPy, its whole output in pytest_gpu.log."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "-rfEs"]
    if ctx.smoke:  # CI runs the whole GPU tier just before; here one file shows the wiring works
        cmd += ["-n", "0", "tests/test_gpu_path.py"]
    log = ctx.log("pytest_gpu.log")
    report(f"- `CUPY_TF32=0 {_shown(cmd)}`; the whole output: `{os.path.basename(log)}`")
    rc, stopped, seconds = run_logged(cmd, log, ctx.child_env(CUPY_TF32="0"), deadline, grace=GRACE_S["tests"] - 15)
    with open(log, errors="replace") as f:
        lines = f.read().splitlines()
    outcome = [l.strip(" =") for l in lines if re.search(r"\d+ (passed|failed|errors?|skipped|deselected)|no tests ran", l)]
    report(f"- {outcome[-1] if outcome else '(no summary line)'} (exit {rc}, {seconds:.0f} s"
           f"{', stopped at its time limit' if stopped else ''})")
    failed = [l for l in lines if l.startswith(("FAILED ", "ERROR "))]
    skipped = [l for l in lines if l.startswith("SKIPPED ")]
    if failed:
        report("", f"Failed ({len(failed)}; the tracebacks are in the log):", "", *("    " + l for l in failed[:40]))
    if skipped:
        report("", "Skipped, with pytest's reasons:", "", *("    " + l for l in skipped[:20]))
    return rc == 0 and not stopped


def section_parity(ctx, report, deadline):
    """One float64 step of lenet and liunet-mnist on both devices: loss, gradients, update."""
    cases = [("lenet", 16, 8 if ctx.smoke else None), ("liunet-mnist", 8, 4 if ctx.smoke else None)]
    report("One SGD step (EM-Softmax head, momentum 0.9, weight decay 5e-4) from the same weights and batch, "
           "float64; the largest relative difference `max|cpu - gpu| / max|cpu|` of the loss, of each "
           "gradient (the worst named) and of the updated weights; bounds 1e-10, 1e-8, 1e-8.", "",
           "| network | batch | loss, CPU | loss, GPU | loss | worst gradient | updated weights | |",
           "|---|---|---|---|---|---|---|---|")
    passed = True
    for name, batch, width in cases:
        row, ok = _parity(ctx.cp, name, batch, width)
        report(row)
        passed = passed and ok
    return passed


def _parity(cp, name, batch, width):
    rng = np.random.default_rng(0)
    x, y = rng.random((batch, 1, 28, 28)), rng.integers(0, 10, batch)
    results = []
    for device in ("cpu", "gpu"):
        net = build_network(name, num_classes=10, width=width, dtype=np.float64, seed=0, **HEAD).to(device)
        opt = SGD(net, lr=0.1, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
        xb, yb = (x, y) if device == "cpu" else (cp.asarray(x), cp.asarray(y))
        loss = float(net.loss(xb, yb))
        net.backward()
        grads = {k: asnumpy(g).copy() for k, g in net.grads.items()}
        opt.step()
        results.append((loss, grads, {k: asnumpy(p) for k, p in net.params.items()}))
    (l1, g1, p1), (l2, g2, p2) = results

    def rel(a, b):
        return float(np.abs(a - b).max() / max(1e-300, np.abs(a).max()))

    loss_rel = abs(l1 - l2) / max(1e-300, abs(l1))
    worst = max(g1, key=lambda k: rel(g1[k], g2[k]))
    grad_rel, param_rel = rel(g1[worst], g2[worst]), max(rel(p1[k], p2[k]) for k in p1)
    ok = loss_rel <= 1e-10 and grad_rel < 1e-8 and param_rel < 1e-8
    return (f"| {name} | {batch} | {l1:.12f} | {l2:.12f} | {loss_rel:.1e} | {grad_rel:.1e} (`{worst}`, "
            f"{len(g1)} gradients) | {param_rel:.1e} | {'ok' if ok else '**FAILS**'} |"), ok


def section_step(ctx, report, deadline):
    """The step of emsm_np against PyTorch's, same GPU, same weights, same TF32 mode."""
    cp = ctx.cp
    torch, why = ctx.torch()
    networks, batches = (["lenet"], [8]) if ctx.smoke else (["lenet", "liunet-mnist"], [128, 64])
    steps = 3 if ctx.smoke else ctx.args.steps
    ours_timer = _CupyEvents.make(cp)
    report(f"EM-Softmax head (V=2, m=0.3, lambda=0.01, column-normalised), momentum SGD with weight decay, "
           f"float32, the same weights on both sides; the median of {steps} steps after {WARMUP} warm-up "
           f"steps, each timed by {ours_timer.method} (PyTorch: torch.cuda.Event)."
           + ("" if torch is not None else f" PyTorch not run: {why}."), "")
    # The two modes first: what each side's float32 products round to, seen on random data.
    report("| TF32 asked | CuPy matmul | PyTorch matmul | PyTorch conv2d (cuDNN) |", "|---|---|---|---|")
    for tf32 in (False, True):
        _set_tf32(torch, tf32)
        seen = [_cupy_probe(cp)] + (list(_torch_probes(torch)) if torch is not None else [None, None])
        report(f"| {'on' if tf32 else 'off'} | " + " | ".join(_seen(e) for e in seen) + " |")
    report("", "| network | batch | TF32 | emsm_np (CuPy) | PyTorch | ratio | loss before the first step, "
               "emsm_np / PyTorch | GPU memory held by emsm_np |", "|---|---|---|---|---|---|---|---|")
    try:
        pool = cp.get_default_memory_pool()
    except AttributeError:  # the CuPy double keeps no memory pool
        pool = None
    for batch in batches:
        for tf32 in (False, True):
            _set_tf32(torch, tf32)
            for name in networks:
                report(_step_row(ctx, cp, torch, pool, ours_timer, name, batch, tf32, steps))
    _set_tf32(torch, False)
    return True


def _step_row(ctx, cp, torch, pool, ours_timer, name, batch, tf32, steps):
    import bench_train_step as B

    rng = np.random.default_rng(0)
    net = build_network(name, num_classes=10, seed=0, width=8 if ctx.smoke else None, **HEAD)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    theirs = B.torch_twin(torch, net, x, y, device="cuda") if torch is not None else None
    if pool is not None:
        pool.free_all_blocks()
    net.to("gpu")
    opt = SGD(net, lr=0.01, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
    gx, gy = cp.asarray(x), cp.asarray(y)

    def ours():
        net.loss(gx, gy)
        net.backward()
        opt.step()

    our_loss = float(net.loss(gx, gy))
    ours_ms = _median_ms(ours, ours_timer, steps)
    held = f"{pool.total_bytes() / 2**20:.0f} MiB" if pool is not None else "n/a"
    their_ms, their_loss = None, None
    if theirs is not None:
        step, loss = theirs
        with torch.no_grad():
            their_loss = float(loss())
        their_ms = _median_ms(step, _TorchEvents(torch), steps)
        del step, loss, theirs
        torch.cuda.empty_cache()
    ratio = f"{ours_ms / their_ms:.2f}" if their_ms else "-"
    losses = f"{our_loss:.5f} / {their_loss:.5f}" if their_loss is not None else f"{our_loss:.5f} / -"
    return (f"| {name} | {batch} | {'on' if tf32 else 'off'} | {ours_ms:.2f} ms | "
            f"{f'{their_ms:.2f} ms' if their_ms else 'not run'} | {ratio} | {losses} | {held} |")


def _set_tf32(torch, enabled):
    """The same TF32 mode on both sides: CuPy's float32 products, PyTorch's matmuls and cuDNN."""
    set_tf32(enabled)
    if torch is not None:
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def _cupy_probe(cp):
    """The relative error of a float32 product on the GPU against float64, on random data."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((256, 512), dtype=np.float32), rng.standard_normal((512, 256), dtype=np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    got = asnumpy(cp.asarray(a) @ cp.asarray(b))
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def _torch_probes(torch):
    """The same for PyTorch's matmul and for a cuDNN convolution (5x5, 16 -> 32 channels)."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(256, 512, generator=g), torch.randn(512, 256, generator=g)
    x, w = torch.randn(16, 16, 14, 14, generator=g), torch.randn(32, 16, 5, 5, generator=g)
    out = []
    for fn, args in ((torch.matmul, (a, b)), (torch.nn.functional.conv2d, (x, w))):
        ref = fn(*(t.double() for t in args))
        got = fn(*(t.cuda() for t in args)).cpu().double()
        out.append(float((got - ref).abs().max() / ref.abs().max()))
    return out


def _seen(error):
    if error is None:
        return "-"
    return f"{'TF32' if error > TF32_SEEN else 'full float32'} ({error:.1e})"


def _median_ms(step, timer, steps):
    for _ in range(WARMUP):
        step()
    timer.synchronize()
    return float(np.median([timer.time(step) for _ in range(steps)]))


class _CupyEvents:
    """Times one call with CUDA events recorded before and after it on CuPy's current stream."""

    method = "CUDA events (cupy.cuda.Event)"

    def __init__(self, cp):
        self.cp, self.start, self.end = cp, cp.cuda.Event(), cp.cuda.Event()

    @classmethod
    def make(cls, cp):
        try:
            return cls(cp)
        except (AttributeError, NotImplementedError):  # the CuPy double has no events
            return _HostClock(cp.cuda.Device().synchronize)

    def time(self, step):
        self.start.record()
        step()
        self.end.record()
        self.end.synchronize()
        return self.cp.cuda.get_elapsed_time(self.start, self.end)

    def synchronize(self):
        self.cp.cuda.Device().synchronize()


class _TorchEvents:
    def __init__(self, torch):
        self.torch = torch
        self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def time(self, step):
        self.start.record()
        step()
        self.end.record()
        self.end.synchronize()
        return self.start.elapsed_time(self.end)

    def synchronize(self):
        self.torch.cuda.synchronize()


class _HostClock:
    method = "the host's clock to a device synchronisation (the CuPy double has no CUDA events)"

    def __init__(self, synchronize):
        self.synchronize = synchronize

    def time(self, step):
        t0 = time.perf_counter()
        step()
        self.synchronize()
        return 1e3 * (time.perf_counter() - t0)


def section_train(ctx, report, deadline):
    """emsm train --device gpu --network liunet-mnist, the paper's recipe: EM-Softmax, then Softmax."""
    runs = [("em-softmax", "EM-Softmax at its defaults (V=2, m=0.3, lambda=0.1)"), ("softmax", "Softmax")]
    results = []
    for i, (loss, label) in enumerate(runs):
        left = None if deadline is None else deadline - time.monotonic()
        if i > 0 and left is not None and left < (0 if ctx.smoke else SECOND_RUN_MIN_S):
            report(f"- {label}: not run, {max(left, 0):.0f} s of the section's time left "
                   f"(it starts with {SECOND_RUN_MIN_S} s or more).")
            continue
        results.append(_train_run(ctx, report, loss, label, deadline))
    if False in results:
        return False
    stopped = [r for r in results if isinstance(r, str)]
    return "; ".join(stopped) if stopped else True


def _train_run(ctx, report, loss, label, deadline):
    args = ctx.args
    data = (["--dataset", "mnist-sample", "--width", "4", "--eval-every", "10"] if ctx.smoke
            else ["--dataset", "mnist", "--data-dir", os.path.abspath(args.data_dir)])
    max_iter = args.max_iter if args.max_iter is not None else (20 if ctx.smoke else None)
    run_dir = tempfile.mkdtemp(prefix=f"emsm-gpu-check-{loss}-")
    cmd = ctx.python("-m", "emsm_np.cli", "train", "--device", "gpu", "--network", "liunet-mnist", *data,
                     "--loss", loss, "--no-progress", "--run-dir", run_dir,
                     *(["--max-iter", str(max_iter)] if max_iter is not None else []),
                     *(["--tf32"] if args.train_tf32 else []))
    log = ctx.log(f"train_{loss}.log")
    shown = _shown(cmd).replace(run_dir, "RUN_DIR")
    report(f"##### {label}", "", f"`{shown}` (TF32 {'on' if args.train_tf32 else 'off'}); "
                                 f"its output: `{os.path.basename(log)}`", "")
    last = {}

    def on_line(line):
        if line.startswith(("iter ", "TF32", "--max-iter")):
            report("    " + line)
        match = re.match(r"iter (\d+)/(\d+):.* (\d+) s$", line)
        if match:
            last.update(iteration=int(match[1]), planned=int(match[2]), wall=float(match[3]))
        match = re.search(r"interrupted at iteration (\d+)", line)
        if match:
            last["stopped_at"] = int(match[1])

    rc, stopped, seconds = run_logged(cmd, log, ctx.child_env(), deadline, grace=GRACE_S["train"] - 20, on_line=on_line)
    summary_path = os.path.join(run_dir, "summary.json")
    report("")
    if rc == 0 and os.path.exists(summary_path):
        with open(summary_path) as f:
            s = json.load(f)
        weak = ", ".join(f"{100 * a:.2f} %" for a in s["weak_accuracy"])
        report(f"- finished all {s['iterations']} iterations: **test accuracy {100 * s['test_accuracy']:.2f} %**"
               + (f" (weak classifiers {weak})" if len(s["weak_accuracy"]) > 1 else "")
               + f"; **{s['wall_time']:.0f} s** of training and evaluations "
               f"({s['wall_time'] / s['iterations']:.4f} s an iteration), {seconds:.0f} s with start-up, data "
               f"loading and plots")
    elif stopped or rc == 130:
        where = last.get("stopped_at", last.get("iteration", 0))
        pace = ""
        if last.get("iteration"):
            each = last["wall"] / last["iteration"]
            pace = (f"; {each:.4f} s an iteration up to its last evaluation, so about {each * last['planned']:.0f} s "
                    f"for all {last['planned']}")
        report(f"- stopped by the time limit at iteration {where} of {last.get('planned', max_iter or 20000)} "
               f"(exit {rc}), after {seconds:.0f} s{pace}")
    else:
        with open(log, errors="replace") as f:
            tail = f.read().splitlines()[-15:]
        report(f"- exit status {rc} after {seconds:.0f} s (1 diverged, 2 a mistake, 3 did not learn); the end "
               f"of its output:", "", *("    " + l for l in tail))
    report("")
    shutil.rmtree(run_dir, ignore_errors=True)
    if rc == 0:
        return True
    return f"{label} stopped by the time limit before its end" if stopped or rc == 130 else False


SECTIONS = {"tests": section_tests, "parity": section_parity, "step": section_step, "train": section_train}


# --------------------------------------------------------------------------- the command line

def _sections(text):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ORDER]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of {', '.join(ORDER)}, got {text!r}")
    return [n for n in ORDER if n in names]  # always in the order of the sections


def _limit(text):
    name, _, seconds = text.partition("=")
    try:
        value = float(seconds)
    except ValueError:
        value = None
    if name not in ORDER or value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"must be SECTION=SECONDS, SECTION one of {', '.join(ORDER)} and "
                                         f"SECONDS > 0, got {text!r}")
    return name, value


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="the MNIST files (or a folder with mnist/ holding them), for the train section")
    p.add_argument("--out", default="gpu_check.md", help="the results file, Markdown (default: gpu_check.md)")
    p.add_argument("--log-dir", help="where the raw logs go: pytest_gpu.log, train_<loss>.log "
                   "(default: the results file's folder)")
    p.add_argument("--sections", type=_sections, default=list(ORDER),
                   help=f"a comma-separated list of {', '.join(ORDER)}, run in that order (default: all)")
    p.add_argument("--max-iter", type=int, help="iterations of each training run (default: the recipe's 20,000; "
                   "20 with --smoke)")
    p.add_argument("--train-tf32", action="store_true", help="train with --tf32 (default: off, emsm's default)")
    p.add_argument("--steps", type=int, default=30, help="timed steps per configuration (default: 30)")
    p.add_argument("--budget-s", type=float, help="seconds for the whole run; the training runs get what the "
                   "sections before them leave (default: no limit)")
    p.add_argument("--limit", type=_limit, action="append", default=[], metavar="SECTION=SECONDS",
                   help="a section's time limit; repeat for several (default: none)")
    p.add_argument("--smoke", action="store_true", help="toy sizes, the embedded sample, no PyTorch (CI)")
    args = p.parse_args(argv)
    if "train" in args.sections and not args.smoke and args.data_dir is None:
        p.error("--data-dir is required for the train section (MNIST), unless --smoke")
    started = time.monotonic()
    limits = dict(args.limit)

    def limit_for(name):
        left = None if args.budget_s is None else args.budget_s - (time.monotonic() - started) - 5
        return min((v for v in (limits.get(name), left) if v is not None), default=None)

    report = Report(args.out)
    report(f"### GPU check ({time.strftime('%Y-%m-%d %H:%M')}"
           f"{', smoke mode: the figures mean nothing' if args.smoke else ''})", "",
           f"`{_shown([sys.executable, os.path.join(HERE, 'gpu_check.py'), *(sys.argv[1:] if argv is None else argv)])}`",
           "")
    try:
        ctx = Context(args)
    except GPUUnavailableError as exc:
        report(f"No GPU to check: {exc}")
        return 3
    report(*environment(ctx), "")
    plan = [(name, TITLES[name], SECTIONS[name]) for name in args.sections]
    try:
        results = run_sections(report, plan, ctx, limit_for)
    except KeyboardInterrupt:  # Ctrl-C, or gpu_session.sh's time limit: what is written stays
        report("", f"Interrupted after {time.monotonic() - started:.0f} s; the sections above are what finished.")
        return 130
    failed = [name for name in args.sections if not results.get(name, False)]
    short = [name for name in args.sections if isinstance(results.get(name), str)]
    seconds = time.monotonic() - started
    report(f"All sections passed ({seconds:.0f} s)." if not failed and not short else
           f"Sections failed or not run: {', '.join(failed) or 'none'}; cut short: {', '.join(short) or 'none'} "
           f"({seconds:.0f} s).")
    print(f"wrote {args.out}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
