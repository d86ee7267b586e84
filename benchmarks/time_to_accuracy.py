"""Time to accuracy on the full real MNIST, on the CPU: lenet with Softmax and EM-Softmax.

Not a test: a measurement (minutes per run). For each loss and seed it trains
``lenet`` with :func:`emsm_np.training.train` at the ``mnist`` schedule's batch
size (128) and learning rate (0.1), with the milestones moved to epochs 4 and
5.5 of a 6-epoch run (the full schedule, 20k iterations, is what
``emsm train --dataset mnist`` runs), on the 60,000 MNIST training
images, evaluates the averaged classifier on the 10,000 test images after
every epoch, and prints the test accuracy per epoch with the wall time (training
and evaluation, not data loading), then the time at which the target accuracy
was first reached. A markdown table goes to ``--out`` (default
``docs/results/time_to_accuracy.md``).

Run (MNIST from ``DATA/mnist``: DATA is any directory with ``mnist/``)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/time_to_accuracy.py --data-dir DATA
"""
import argparse
import csv
import os
import tempfile
import time

from emsm_np.data import load_dataset
from emsm_np.training import TrainConfig, train

LOSSES = {
    "softmax": dict(loss="softmax"),
    "em-softmax": dict(loss="em-softmax", ensemble=2, margin=0.3, lam=0.01),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--losses", nargs="+", default=list(LOSSES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--epochs", type=float, default=6)
    # The defaults of `emsm train --dataset mnist` (the mnist schedule), on a shorter clock.
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--drops", type=float, nargs="+", default=[4, 5.5],
                   help="epochs at which the learning rate is divided by 10")
    p.add_argument("--target", type=float, default=0.992)
    p.add_argument("--out", default=os.path.join("docs", "results", "time_to_accuracy.md"))
    args = p.parse_args()

    ds = load_dataset("mnist", data_dir=args.data_dir, download=False)
    per_epoch = len(ds.x_train) // args.batch_size
    max_iter = int(args.epochs * per_epoch)
    lines = [f"lenet on full MNIST (60k/10k), batch {args.batch_size}, lr {args.lr} divided by 10 at "
             f"epochs {args.drops}, {args.epochs} epochs, CPU; test accuracy of the averaged classifier "
             f"after each epoch, wall time in seconds (training + evaluation).", "",
             "| loss | seed | accuracy per epoch (%) | final | time to "
             f"{100 * args.target:.1f}% (s) | total (s) |", "|---|---|---|---|---|---|"]
    for loss in args.losses:
        for seed in args.seeds:
            cfg = TrainConfig(network="lenet", dataset="mnist", seed=seed, batch_size=args.batch_size,
                              lr=args.lr, max_iter=max_iter, eval_every=per_epoch,
                              milestones=tuple(int(d * per_epoch) for d in args.drops),
                              schedule="mnist", **LOSSES[loss])
            with tempfile.TemporaryDirectory() as run:
                t0 = time.perf_counter()
                summary = train(cfg, run, dataset=ds, progress=False, log=lambda *a: None)
                total = time.perf_counter() - t0
                with open(os.path.join(run, "metrics.csv")) as f:
                    rows = list(csv.DictReader(f))
            accs = [float(r["test_accuracy"]) for r in rows]
            hit = next((float(r["wall_time"]) for r in rows if float(r["test_accuracy"]) >= args.target), None)
            line = (f"| {loss} | {seed} | {' / '.join(f'{100 * a:.2f}' for a in accs)} | "
                    f"{100 * summary['test_accuracy']:.2f} | {'not reached' if hit is None else f'{hit:.0f}'} | "
                    f"{total:.0f} |")
            print(line, flush=True)
            lines.append(line)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
