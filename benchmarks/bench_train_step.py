"""Time one SGD training step of emsm_np networks against the same network in PyTorch.

Not a test: a measurement. For ``lenet`` and the LiuNet MNIST network
(``liunet-mnist``, the L-Softmax prototxt widths), at batch 64 and 256, float32,
one step is forward, EM-Softmax loss (V=2, m=0.3, lambda=0.01), backward and the
momentum-SGD update with weight decay. The PyTorch model is built from the
emsm_np model layer by layer with the same weights (``nn.Conv2d``,
``nn.BatchNorm2d``/``nn.BatchNorm1d``, ``nn.PReLU``/``nn.ReLU``, ``nn.MaxPool2d(ceil_mode=True)``,
``nn.Linear``) and the same head written with torch operations (autograd), and
``torch.optim.SGD``. Both sides are timed in alternating blocks after a pause
(see ``bench_conv.py`` for why); the medians and the fastest steps are printed
with their ratios. (The fastest step is the less noisy of the two on a shared
machine: PyTorch's median moved by up to 1.6x between runs here, ours by 5%.)

Run (unset the OpenBLAS variables that slow NumPy on this kind of machine)::

    pip install torch==2.13.0
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train_step.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train_step.py --reference
"""
import argparse
import time

import numpy as np

from emsm_np.layers import BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, PReLU, ReLU
from emsm_np.models import build_network
from emsm_np.optim import SGD

HEAD = dict(ensemble=2, margin=0.3, lam=0.01, normalize="column")


def torch_features(torch, seq):
    nn = torch.nn
    mods = []
    for layer in seq.layers:
        p = {k: torch.from_numpy(v.copy()) for k, v in layer.params.items()}
        if isinstance(layer, Conv2d):
            m = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                          layer.padding, bias="bias" in p)
        elif isinstance(layer, BatchNorm2d):
            m = nn.BatchNorm2d(layer.num_features, eps=layer.eps, momentum=layer.momentum)
        elif isinstance(layer, BatchNorm1d):
            m = nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum)
        elif isinstance(layer, PReLU):
            m = nn.PReLU(layer.num_parameters)
        elif isinstance(layer, ReLU):
            m = nn.ReLU()
        elif isinstance(layer, MaxPool2d):
            m = nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
        elif isinstance(layer, Flatten):
            m = nn.Flatten()
        elif isinstance(layer, Linear):
            m = nn.Linear(layer.in_features, layer.out_features, bias="bias" in p)
            p["weight"] = p["weight"].T.contiguous()  # ours is (in, out), torch's (out, in)
        else:
            raise TypeError(f"no torch equivalent for {type(layer).__name__}")
        with torch.no_grad():
            for k, v in p.items():
                getattr(m, k).copy_(v)
        mods.append(m)
    return nn.Sequential(*mods)


def torch_head_loss(torch, f, W, y, margin, lam):
    """Sum over v of the soft-margin CE of f W_v, plus lam * HSIC on column-normalised W_v."""
    z = torch.einsum("nd,vdk->vnk", f, W)
    onehot = torch.nn.functional.one_hot(y, W.shape[2]).to(f.dtype)
    z = z - margin * onehot[None]
    ce = sum(torch.nn.functional.cross_entropy(z[v], y) for v in range(W.shape[0]))
    Wn = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
    C = Wn - Wn.mean(dim=2, keepdim=True)
    G = C.transpose(1, 2) @ C
    S = G.sum(0)
    return ce + lam * ((S * S).sum() - (G * G).sum())


def torch_twin(torch, net, x, y, device="cpu"):
    """The same network, head and optimiser as ``net`` in PyTorch on ``device``, with ``net``'s
    weights (read from its NumPy arrays: call before ``net.to("gpu")``), on the batch ``x, y``.

    Returns ``(step, loss)``: ``step()`` is one training step (forward, loss, backward, the SGD
    update with momentum and weight decay as emsm_np's SGD: none on biases, batch-norm and PReLU
    parameters) and returns the loss tensor, without waiting for the device; ``loss()`` is the
    loss of the batch, for comparing the two before any step. ``benchmarks/gpu_check.py`` times
    it on the GPU (``device="cuda"``)."""
    dev = torch.device(device)
    tf = torch_features(torch, net.features).to(dev)
    tW = torch.nn.Parameter(torch.from_numpy(net.head.params["weight"].copy()).to(dev))
    tx, ty = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    decay = [p for n, p in tf.named_parameters() if n.endswith("weight") and p.ndim > 1] + [tW]
    no_decay = [p for n, p in tf.named_parameters() if not (n.endswith("weight") and p.ndim > 1)]
    topt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4},
                            {"params": no_decay, "weight_decay": 0.0}], lr=0.01, momentum=0.9)

    def loss():
        return torch_head_loss(torch, tf(tx), tW, ty, HEAD["margin"], HEAD["lam"])

    def step():
        topt.zero_grad(set_to_none=True)
        value = loss()
        value.backward()
        topt.step()
        return value

    return step, loss


def setup(torch, name, batch):
    rng = np.random.default_rng(0)
    net = build_network(name, num_classes=10, **HEAD, seed=0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    opt = SGD(net, lr=0.01, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())

    def ours():
        net.loss(x, y)
        net.backward()
        opt.step()

    theirs, their_loss = torch_twin(torch, net, x, y)

    # Same loss on the same weights before any step (float32 sums in different orders).
    ours_loss = net.head.forward(net.features.forward(x, train=True), y)
    with torch.no_grad():
        theirs_loss = float(their_loss())
    return ours, theirs, ours_loss, theirs_loss


def timed(torch, ours, theirs, blocks, per_block, pause):
    times = {"ours": [], "torch": []}
    for _ in range(blocks):
        for name, fn in (("ours", ours), ("torch", theirs)):
            time.sleep(pause)
            fn()  # warm-up, not counted
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {k: (float(np.median(v)), float(np.min(v))) for k, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["lenet", "liunet-mnist"])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--per-block", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.5)
    parser.add_argument("--reference", action="store_true",
                        help="time emsm_np's reference routes only (emsm_np.functional; no fast CPU routes)")
    args = parser.parse_args()
    if args.reference:
        from emsm_np import ops

        ops.set_fast_routes(False)

    import torch

    from bench_conv import blas_info

    print(f"numpy {np.__version__}, BLAS:\n  {blas_info()}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"one SGD step (forward, EM-Softmax loss {HEAD}, backward, update), float32, "
          f"median and fastest of {args.blocks} x {args.per_block} per side in alternating blocks; "
          f"emsm_np routes: {'reference only' if args.reference else 'fast CPU routes'}")
    for name in args.networks:
        for batch in args.batches:
            ours, theirs, l1, l2 = setup(torch, name, batch)
            med = timed(torch, ours, theirs, args.blocks, args.per_block, args.pause)
            (ours_med, ours_min), (torch_med, torch_min) = med["ours"], med["torch"]
            print(f"{name:>14} batch {batch:>4}: median ours {1e3 * ours_med:8.1f} ms   torch "
                  f"{1e3 * torch_med:8.1f} ms   ratio {ours_med / torch_med:5.2f}   |   fastest ours "
                  f"{1e3 * ours_min:8.1f} ms   torch {1e3 * torch_min:8.1f} ms   ratio "
                  f"{ours_min / torch_min:5.2f}   (initial loss ours {l1:.5f}, torch {l2:.5f})", flush=True)


if __name__ == "__main__":
    main()
