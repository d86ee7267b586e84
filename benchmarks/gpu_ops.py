"""Array operations (a proxy for GPU kernel launches) and device-to-host transfers per layer.

Not a test: a measurement, made on the CPU under the CuPy double, which counts them
(:mod:`emsm_np.testing.cupy_double`, installed by :mod:`emsm_np.testing.run_with_double`; a
call of a ``cupy.fuse`` kernel is one operation). For lenet and liunet-mnist (EM-Softmax
head V=2, m=0.3, lambda=0.01, float32, batch 128 by default) it runs one warm-up step and
then one training step on the "GPU", with the fast GPU routes (:mod:`emsm_np.gpu`) and
again with the reference routes alone, and prints per layer the operations of its
forward and backward pass, then the head and the SGD update, with the transfers of each
(``tests/test_gpu_routes.py`` holds the fast routes' totals to a budget)::

    python -m emsm_np.testing.run_with_double benchmarks/gpu_ops.py --out docs/results/gpu_ops.md
"""
import argparse
import functools

import numpy as np

from emsm_np import ops
from emsm_np.backend import get_cupy
from emsm_np.models import build_network
from emsm_np.optim import SGD

HEAD = dict(ensemble=2, margin=0.3, lam=0.01, normalize="column")


def counted(cp, table, key, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with cp.counting() as c:
            out = fn(*args, **kwargs)
        ops, transfers = table.get(key, (0, 0))
        table[key] = (ops + c.operations, transfers + c.transfers)
        return out

    return wrapper


def measure(cp, name, batch):
    net = build_network(name, num_classes=10, **HEAD, seed=0).to("gpu")
    opt = SGD(net, lr=0.01, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
    rng = np.random.default_rng(0)
    x, y = cp.asarray(rng.random((batch, 1, 28, 28), dtype=np.float32)), cp.asarray(rng.integers(0, 10, batch))
    table = {}
    for i, layer in enumerate(net.features.layers):
        label = f"{i:2d} {type(layer).__name__}"
        layer.forward = counted(cp, table, (label, "forward"), layer.forward)
        layer.backward = counted(cp, table, (label, "backward"), layer.backward)
    net.head.forward = counted(cp, table, ("   head (EM-Softmax)", "forward"), net.head.forward)
    net.head.backward = counted(cp, table, ("   head (EM-Softmax)", "backward"), net.head.backward)
    opt.step = counted(cp, table, ("   SGD update", "forward"), opt.step)

    def step():
        net.loss(x, y)
        net.backward()
        opt.step()

    step()
    table.clear()
    with cp.counting() as total:
        step()
    return table, total


def col_bytes(name, batch, in_channels=1, size=28, num_classes=10):
    """Bytes of the largest im2col matrix of a step (the reference route builds each convolution's whole
    Col, kh*kw*C x N*Ho*Wo, once in the forward and once in the backward; it is freed after use), and of
    all of them (the fast GPU route keeps every convolution's from its forward to its backward)."""
    from emsm_np.layers import Conv2d, MaxPool2d

    net = build_network(name, num_classes=num_classes, in_channels=in_channels, input_size=size, **HEAD, seed=0)
    largest, total, c, h = 0, 0, in_channels, size
    for layer in net.features.layers:
        if isinstance(layer, Conv2d):
            (kh, kw), (ph, _), (sy, _) = layer.kernel_size, layer.padding, layer.stride
            h = (h + 2 * ph - kh) // sy + 1
            nbytes = kh * kw * c * batch * h * h * 4
            largest, total = max(largest, nbytes), total + nbytes
            c = layer.out_channels
        elif isinstance(layer, MaxPool2d):
            h = -(-h // 2)
    return largest, total


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--out", help="also write the tables here (Markdown)")
    args = p.parse_args()
    cp = get_cupy()
    if cp.__name__ != "emsm_np.testing.cupy_double":
        raise SystemExit("run under the CuPy double: python -m emsm_np.testing.run_with_double benchmarks/gpu_ops.py ...; "
                         "real CuPy does not count operations")
    lines = []
    for name in ("lenet", "liunet-mnist"):
        table, total = measure(cp, name, args.batch)
        with ops.reference_routes():
            ref_table, ref_total = measure(cp, name, args.batch)
        lines += [f"#### {name}, batch {args.batch}: one training step", "",
                  "| layer | forward ops | backward ops | transfers to the host | reference routes: forward, backward |",
                  "|---|---|---|---|---|"]
        labels = sorted({label for label, _ in table})
        for label in labels:
            f_ops, f_tr = table.get((label, "forward"), (0, 0))
            b_ops, b_tr = table.get((label, "backward"), (0, 0))
            ref = f"{ref_table.get((label, 'forward'), (0, 0))[0]}, {ref_table.get((label, 'backward'), (0, 0))[0]}"
            lines.append(f"| {label.strip()} | {f_ops} | {b_ops if (label, 'backward') in table else '-'} "
                         f"| {f_tr + b_tr} | {ref} |")
        lines += ["", f"Whole step: {total.operations} operations, {total.transfers} transfers to the host, "
                  f"{total.uploads} uploads (reference routes alone: {ref_total.operations} operations, "
                  f"{ref_total.transfers} transfers, {ref_total.uploads} uploads).", ""]
    lines += ["#### The largest transient buffer of a step on the GPU", "",
              "The reference route builds each convolution's whole im2col matrix (float32), once in the forward",
              "and once in the backward, and frees it after use; CuPy's memory pool keeps the largest for reuse.",
              "The fast GPU route (emsm_np/gpu/conv2d.py) builds the same matrix once, in the forward, and keeps",
              "every layer's until its backward: the sum over the network's convolutions.", "",
              "| network | batch | largest im2col matrix | all of a step's (fast GPU route) |", "|---|---|---|---|"]
    for name, batch, channels, size, classes in (("lenet", 128, 1, 28, 10), ("liunet-mnist", 128, 1, 28, 10),
                                                 ("liunet-mnist", 256, 1, 28, 10), ("liunet-cifar10", 128, 3, 32, 10),
                                                 ("liunet-cifar100", 128, 3, 32, 100)):
        largest, total = col_bytes(name, batch, channels, size, classes)
        lines.append(f"| {name} | {batch} | {largest / 2**20:.0f} MiB | {total / 2**20:.0f} MiB |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(f"### Operations per training step on the GPU path (counted by the CuPy double)\n\n"
                    f"`python -m emsm_np.testing.run_with_double benchmarks/gpu_ops.py --out docs/results/gpu_ops.md`\n\n{text}\n")


if __name__ == "__main__":
    main()
