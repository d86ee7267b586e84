"""Time Conv2d forward + backward against PyTorch's CPU convolution, at LiuNet shapes.

Not a test: a measurement. Batch 64, 64 -> 64 channels, 3x3 kernel, padding 1,
no bias (as in LiuNet), float32, at 28x28 and 14x14. Both sides get the same
input, weight and upstream gradient; PyTorch runs ``conv2d`` with autograd and
``out.backward(g)`` (dx and dweight, like ours). The two are timed in
alternating blocks, so that drift in the machine's load hits both, and the
medians are reported with their ratio (ours / torch).

Why blocks and pauses, not strict alternation: NumPy's OpenBLAS threads and
PyTorch's OpenMP threads both spin for a while after a call before they sleep.
Calling one library right after the other makes its threads fight the other's
spinning threads for the cores, which slowed *both* by up to several times on
a 2-core machine. Each block therefore starts after a pause, and its first
call is a warm-up that is not counted.

Run (on machines that set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, unset them: they
slow NumPy's BLAS)::

    pip install torch==2.13.0
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv.py
"""
import argparse
import time

import numpy as np

from emsm_np.layers.conv2d import Conv2d


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed (pip install threadpoolctl to see NumPy's BLAS)"
    rows = [f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}), "
            f"{p.get('num_threads')} threads: {p.get('filepath')}" for p in threadpool_info()]
    return "\n  ".join(rows)


def bench_shape(torch, size, batch, channels, blocks, per_block, pause):
    rng = np.random.default_rng(0)
    layer = Conv2d(channels, channels, 3, padding=1, bias=False, dtype=np.float32, rng=rng)
    x = rng.standard_normal((batch, channels, size, size), dtype=np.float32)
    g = rng.standard_normal((batch, channels, size, size), dtype=np.float32)

    tx = torch.from_numpy(x.copy()).requires_grad_()
    tw = torch.from_numpy(layer.params["weight"].copy()).requires_grad_()
    tg = torch.from_numpy(g.copy())

    def ours():
        layer.forward(x)
        return layer.backward(g)

    def theirs():
        tx.grad = tw.grad = None
        torch.nn.functional.conv2d(tx, tw, padding=1).backward(tg)

    # Same numbers on both sides (float32 sums in different orders: ~1e-5 relative).
    dx = ours()
    theirs()
    scale = float(np.abs(tx.grad.numpy()).max())
    dx_err = float(np.abs(dx - tx.grad.numpy()).max()) / scale
    dw_err = float(np.abs(layer.grads["weight"] - tw.grad.numpy()).max()) / float(np.abs(tw.grad.numpy()).max())

    times = {"ours": [], "torch": []}
    for _ in range(blocks):
        for name, fn in (("ours", ours), ("torch", theirs)):
            time.sleep(pause)  # let the other library's worker threads go to sleep
            fn()  # warm-up, not counted
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    return med, times, (dx_err, dw_err)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--per-block", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds before each block")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 14])
    args = parser.parse_args()

    import torch

    print(f"numpy {np.__version__}, BLAS:\n  {blas_info()}")
    print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}")
    print(f"batch {args.batch}, {args.channels}->{args.channels} channels, 3x3, padding 1, "
          f"float32; forward + backward; median of {args.blocks} x {args.per_block} timed calls "
          f"per side, in alternating blocks")
    for size in args.sizes:
        med, times, (dx_err, dw_err) = bench_shape(torch, size, args.batch, args.channels,
                                                   args.blocks, args.per_block, args.pause)
        ratio = med["ours"] / med["torch"]
        spread = {k: (1e3 * min(v), 1e3 * max(v)) for k, v in times.items()}
        print(f"{size:>3}x{size:<3} ours {1e3 * med['ours']:8.2f} ms   torch {1e3 * med['torch']:8.2f} ms   "
              f"ratio ours/torch {ratio:5.2f}   (min-max ours {spread['ours'][0]:.1f}-{spread['ours'][1]:.1f}, "
              f"torch {spread['torch'][0]:.1f}-{spread['torch'][1]:.1f}; rel. diff dx {dx_err:.1e}, "
              f"dW {dw_err:.1e})")


if __name__ == "__main__":
    main()
