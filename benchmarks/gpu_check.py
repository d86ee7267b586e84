"""One prepared command for a real GPU: tests, parity, step time against PyTorch, the paper's recipe.

Not a test: a measurement, for the rare session that is lent a GPU. It needs no network
and nothing beyond what such a machine typically has (CuPy, NumPy, PyTorch with CUDA,
pytest, tqdm, threadpoolctl, scipy, matplotlib), runs from the checkout, and writes one
Markdown file:

1. the GPU tests on real CuPy (``pytest -m gpu``);
2. CPU/GPU parity: one float64 training step of lenet on both devices (loss, every
   gradient, the update);
3. one training step against the same network in PyTorch on the same GPU (lenet and
   liunet-mnist, batch 64 and 256, after warm-up, each side timed to a device
   synchronisation), with the GPU memory the step holds (CuPy's memory pool);
4. liunet-mnist on full MNIST with the paper's recipe (Sec. 4.3: lr 0.1, /10 at 8k and
   14k; batch 128, emsm_np's: the paper gives none), for as long as ``--train-minutes``
   allows: test accuracy against wall time.

Run on a CUDA machine, from the repository root (under 8 minutes on one H200)::

    PYTHONPATH=. python3 benchmarks/gpu_check.py --data-dir MNIST_ROOT --out gpu_check.md

``--smoke`` runs every section at toy sizes on the embedded MNIST sample, without
PyTorch: CI runs it under the CuPy double, so that the script cannot rot between GPU
sessions (its figures mean nothing)::

    python -m emsm_np.testing.run_with_double benchmarks/gpu_check.py --smoke --out gpu_check.md

which installs the double as ``cupy`` before the script runs, and sets ``EMSM_CUPY_DOUBLE=1``
so that the GPU tests it starts in a subprocess run under the double too.
"""
import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench_train_step's PyTorch twin

from emsm_np.backend import asnumpy, get_cupy  # noqa: E402
from emsm_np.models import build_network  # noqa: E402
from emsm_np.optim import SGD  # noqa: E402
from emsm_np.training import TrainConfig, TrainingInterrupted, train  # noqa: E402

HEAD = dict(ensemble=2, margin=0.3, lam=0.01, normalize="column")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def environment(cp):
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    lines = [f"- device: {name}; CuPy {cp.__version__}; NumPy {np.__version__}; Python {platform.python_version()}"]
    try:
        import torch

        lines.append(f"- PyTorch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    except ImportError:
        lines.append("- PyTorch: not installed")
    return lines


def gpu_tests(smoke):
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu"]
    if smoke:  # CI runs the whole GPU suite just before; here one file shows the wiring works
        args.append("tests/test_gpu_path.py")
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    tail = [line for line in proc.stdout.strip().splitlines() if line.strip()][-1:]
    return [f"- `{' '.join(args[1:])}`: {tail[0] if tail else '(no output)'} "
            f"(exit {proc.returncode}, {time.perf_counter() - t0:.0f} s)"], proc.returncode == 0


def parity(cp):
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 1, 28, 28)), rng.integers(0, 10, 16)
    out = []
    for device in ("cpu", "gpu"):
        net = build_network("lenet", num_classes=10, width=8, dtype=np.float64, seed=0, **HEAD).to(device)
        opt = SGD(net, lr=0.1, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
        xb, yb = (x, y) if device == "cpu" else (cp.asarray(x), cp.asarray(y))
        loss = float(net.loss(xb, yb))
        net.backward()
        grads = {k: asnumpy(g).copy() for k, g in net.grads.items()}
        opt.step()
        out.append((loss, grads, {k: asnumpy(p) for k, p in net.params.items()}))
    (l1, g1, p1), (l2, g2, p2) = out

    def rel(a, b):
        return float(np.abs(a - b).max() / max(1e-30, np.abs(a).max()))

    worst_g = max(rel(g1[k], g2[k]) for k in g1)
    worst_p = max(rel(p1[k], p2[k]) for k in p1)
    ok = abs(l1 - l2) <= 1e-10 * abs(l1) and worst_g < 1e-8 and worst_p < 1e-8
    return [f"- lenet, float64, one SGD step, batch 16: loss CPU {l1:.12f}, GPU {l2:.12f}; largest relative "
            f"difference over the gradients {worst_g:.1e}, over the updated weights {worst_p:.1e}"], ok


def step_times(cp, networks, batches, steps, smoke):
    torch = None
    if not smoke:
        try:
            import torch

            if not torch.cuda.is_available():
                torch = None
        except ImportError:
            torch = None
    lines = ["| network | batch | emsm_np (CuPy) | PyTorch (CUDA) | ratio | GPU memory held by the step |",
             "|---|---|---|---|---|---|"]
    try:
        pool = cp.get_default_memory_pool()
    except AttributeError:  # the CuPy double keeps no memory pool
        pool = None
    for name in networks:
        for batch in batches:
            rng = np.random.default_rng(0)
            net = build_network(name, num_classes=10, **HEAD, seed=0, width=8 if smoke else None)
            x = rng.random((batch, 1, 28, 28), dtype=np.float32)
            y = rng.integers(0, 10, batch)
            twin = _torch_twin(torch, net, x, y) if torch is not None else None
            net.to("gpu")
            opt = SGD(net, lr=0.01, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
            gx, gy = cp.asarray(x), cp.asarray(y)

            def ours():
                net.loss(gx, gy)
                net.backward()
                opt.step()

            if pool is not None:
                pool.free_all_blocks()
            ours_ms = _timed(ours, cp.cuda.Device().synchronize, steps)
            held = f"{pool.total_bytes() / 2**20:.0f} MiB" if pool is not None else "n/a"
            torch_ms = _timed(twin, torch.cuda.synchronize, steps) if twin is not None else None
            ratio = f"{ours_ms / torch_ms:.2f}" if torch_ms else "-"
            lines.append(f"| {name} | {batch} | {ours_ms:.2f} ms | "
                         f"{f'{torch_ms:.2f} ms' if torch_ms else 'not run'} | {ratio} | {held} |")
    return lines


def _timed(step, synchronize, steps):
    for _ in range(3):  # warm-up: kernels compiled, memory pools filled
        step()
    synchronize()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def _torch_twin(torch, net, x, y):
    """The same network and head in PyTorch on the GPU (built as in bench_train_step.py)."""
    import bench_train_step as B

    dev = torch.device("cuda")
    features = B.torch_features(torch, net.features).to(dev)
    W = torch.nn.Parameter(torch.from_numpy(net.head.params["weight"].copy()).to(dev))
    tx, ty = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    decay = [p for n, p in features.named_parameters() if n.endswith("weight") and p.ndim > 1] + [W]
    no_decay = [p for n, p in features.named_parameters() if not (n.endswith("weight") and p.ndim > 1)]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        B.torch_head_loss(torch, features(tx), W, ty, HEAD["margin"], HEAD["lam"]).backward()
        opt.step()

    return step


def paper_recipe(data_dir, minutes, smoke):
    """liunet-mnist with the mnist schedule, stopped (Ctrl-C, as a user would) after ``minutes``."""
    if smoke:
        cfg = TrainConfig(network="liunet-mnist", width=4, dataset="mnist-sample", device="gpu",
                          max_iter=20, eval_every=10)
    else:
        cfg = TrainConfig(network="liunet-mnist", dataset="mnist", data_dir=data_dir, device="gpu", eval_every=500)
    deadline = time.perf_counter() + 60 * minutes
    rows = []

    def log(message):
        if message.startswith("iter "):
            rows.append(message)
            if time.perf_counter() > deadline:
                os.kill(os.getpid(), signal.SIGINT)  # checkpoint and stop, as Ctrl-C does

    with tempfile.TemporaryDirectory() as run:
        t0 = time.perf_counter()
        try:
            summary = train(cfg, run, progress=False, log=log)
            end = f"finished all {summary['iterations']} iterations: test accuracy {100 * summary['test_accuracy']:.2f}%"
        except TrainingInterrupted as exc:
            end = f"stopped by the time budget at iteration {exc.iteration}"
        wall = time.perf_counter() - t0
    resolved = cfg.resolved()
    lines = [f"- `{resolved.network}` on `{resolved.dataset}`, loss {resolved.loss}, lr {resolved.lr} "
             f"(milestones {list(resolved.milestones)}), batch {resolved.batch_size}, {resolved.max_iter} iterations "
             f"planned; {end}; {wall:.0f} s including data loading and evaluations", "", "```text", *rows, "```"]
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="folder with the MNIST files (or with mnist/ holding them)")
    p.add_argument("--out", default="gpu_check.md", help="the results file (Markdown)")
    p.add_argument("--train-minutes", type=float, default=4.0, help="time budget of the paper-recipe run")
    p.add_argument("--steps", type=int, default=20, help="timed steps per configuration")
    p.add_argument("--smoke", action="store_true", help="toy sizes, the embedded sample, no PyTorch (CI)")
    args = p.parse_args()
    if not args.smoke and args.data_dir is None:
        p.error("--data-dir is required (MNIST for the paper-recipe run), unless --smoke")
    cp = get_cupy()
    started = time.strftime("%Y-%m-%d %H:%M")
    sections = [f"### GPU check ({started}{', smoke mode: the figures mean nothing' if args.smoke else ''})", "",
                f"`{' '.join(['python3', 'benchmarks/gpu_check.py'] + sys.argv[1:])}`", ""]
    sections += environment(cp) + [""]
    ok = True
    for title, (lines, passed) in (("GPU tests on this CuPy", gpu_tests(args.smoke)),
                                   ("CPU/GPU parity", parity(cp))):
        sections += [f"#### {title}", ""] + lines + [""]
        ok = ok and passed
        print("\n".join(lines), flush=True)
    networks, batches = (["lenet"], [8]) if args.smoke else (["lenet", "liunet-mnist"], [64, 256])
    lines = step_times(cp, networks, batches, 3 if args.smoke else args.steps, args.smoke)
    sections += ["#### One training step (EM-Softmax V=2, m=0.3, lambda=0.01, float32, median)", ""] + lines + [""]
    print("\n".join(lines), flush=True)
    lines = paper_recipe(args.data_dir, 0.5 if args.smoke else args.train_minutes, args.smoke)
    sections += ["#### The paper's recipe on MNIST", ""] + lines + [""]
    print("\n".join(lines), flush=True)
    with open(args.out, "w") as f:
        f.write("\n".join(sections) + "\n")
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
