"""Where one training step's time goes: per layer for emsm_np, per operator for PyTorch.

Not a test: a measurement, for finding what to speed up next. For one network
and batch size (float32, EM-Softmax head V=2, m=0.3, lambda=0.01), it times
every layer's forward and backward of emsm_np over several steps and prints them
per layer and summed per layer type. With ``--torch`` it then runs the same
network in PyTorch (built as in ``bench_train_step.py``) under
``torch.profiler`` and prints PyTorch's own per-operator table. (The profiler
adds its own overhead: compare shares, not absolute times, with the other
benchmark.)

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_step.py liunet-mnist --batch 64 --torch
"""
import argparse
import time

import numpy as np

from emsm_np.models import build_network

HEAD = dict(ensemble=2, margin=0.3, lam=0.01, normalize="column")


def profile_ours(name, batch, steps):
    net = build_network(name, num_classes=10, **HEAD, seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    layers = net.features.layers
    fw, bw = np.zeros(len(layers)), np.zeros(len(layers))
    for step in range(steps + 1):  # step 0 warms up and is not counted
        h = x
        for i, layer in enumerate(layers):
            t0 = time.perf_counter()
            h = layer.forward(h, train=True)
            fw[i] += (time.perf_counter() - t0) * (step > 0)
        net.head.forward(h, y)
        g = net.head.backward()
        for i in reversed(range(len(layers))):
            t0 = time.perf_counter()
            g = layers[i].backward(g)
            bw[i] += (time.perf_counter() - t0) * (step > 0)
    fw, bw = 1e3 * fw / steps, 1e3 * bw / steps
    print(f"emsm_np {name}, batch {batch}: ms per step, mean of {steps} steps")
    per_type = {}
    for i, layer in enumerate(layers):
        kind = type(layer).__name__
        print(f"  {i:2d} {kind:12s} forward {fw[i]:7.1f}   backward {bw[i]:7.1f}")
        f, b = per_type.get(kind, (0.0, 0.0))
        per_type[kind] = (f + fw[i], b + bw[i])
    for kind, (f, b) in per_type.items():
        print(f"  {kind:15s} forward {f:7.1f}   backward {b:7.1f}   total {f + b:7.1f}")
    print(f"  features total {fw.sum() + bw.sum():.1f} ms")


def profile_torch(name, batch, steps):
    import torch
    from torch.profiler import ProfilerActivity, profile

    from bench_train_step import setup

    _, theirs, _, _ = setup(torch, name, batch)
    for _ in range(2):
        theirs()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            theirs()
    print(f"PyTorch {torch.__version__} {name}, batch {batch}, {steps} steps under torch.profiler "
          f"({torch.get_num_threads()} threads):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", nargs="?", default="liunet-mnist")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--torch", action="store_true", help="also profile the PyTorch twin")
    args = parser.parse_args()
    profile_ours(args.network, args.batch, args.steps)
    if args.torch:
        profile_torch(args.network, args.batch, args.steps)


if __name__ == "__main__":
    main()
