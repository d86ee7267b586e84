"""The 2-D feature figure: test-set features in the plane, one panel per trained run.

The L-Softmax paper's picture (and the one readers expect of a margin loss): train with a
2-wide feature layer, then plot each test image's feature vector, coloured by its class,
with the direction of each class's classifier column (for EM-Softmax the test-time
classifier, the average of the V weak classifiers, Sec. 4.3).

    emsm train --dataset mnist --feature-dim 2 --activation prelu --loss softmax    --run-dir runs/f2-softmax
    emsm train --dataset mnist --feature-dim 2 --activation prelu --loss em-softmax --run-dir runs/f2-em
    python scripts/feature_plane.py runs/f2-softmax runs/f2-em --data-dir DIR --out docs/_static/feature_plane.png

PReLU in the feature layer, not ReLU: ReLU would fold every feature into the positive
quadrant. Prints, per run, the test accuracy of the checkpoint and the mean angle between
a feature and its own class's column against the nearest other column (degrees), which is
what a margin loss widens.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emsm_np.data import load_dataset  # noqa: E402
from emsm_np.training import build_from_config, load_checkpoint  # noqa: E402
from emsm_np.training.config import read_config  # noqa: E402


def features_of(run_dir, data_dir=None, limit=None, batch=1000):
    """(features (n, 2), labels (n,), averaged W (2, K), accuracy, config) of a run's checkpoint."""
    cfg = read_config(os.path.join(run_dir, "config.json"))
    ds = load_dataset(cfg.dataset, data_dir=data_dir or cfg.data_dir)
    net = build_from_config(cfg, ds.num_classes, ds.x_train.shape[1], ds.x_train.shape[2])
    if net.head.in_features != 2:
        raise ValueError(f"{run_dir}: the feature layer is {net.head.in_features} wide; train with --feature-dim 2")
    state, _, meta = load_checkpoint(os.path.join(run_dir, "checkpoint.npz"))
    net.load_state_dict(state)
    x, y = ds.x_test[:limit], ds.y_test[:limit]
    feats = np.concatenate([net.embed(x[i:i + batch]) for i in range(0, len(x), batch)])
    W = net.head.params["weight"].mean(axis=0)  # the test-time classifier: the weak ones averaged
    accuracy = float(np.mean(np.argmax(feats @ W, axis=1) == y))
    return feats, y, W, accuracy, cfg, meta["iteration"]


def angular_gap(feats, y, W):
    """Mean over images of (angle to the nearest other column) - (angle to its own column), degrees."""
    f = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    w = W / np.maximum(np.linalg.norm(W, axis=0, keepdims=True), 1e-12)
    ang = np.degrees(np.arccos(np.clip(f @ w, -1.0, 1.0)))
    own = ang[np.arange(len(y)), y]
    ang[np.arange(len(y)), y] = np.inf
    return float(np.mean(ang.min(axis=1) - own))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run directories trained with --feature-dim 2")
    p.add_argument("--data-dir", help="where the data set's files are (default: the run's own)")
    p.add_argument("--limit", type=int, default=None, help="plot only the first N test images (default: all)")
    p.add_argument("--out", default="feature_plane.png", help="the PNG to write")
    args = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.runs), figsize=(5 * len(args.runs), 5), squeeze=False)
    report = []
    for ax, run in zip(axes[0], args.runs):
        feats, y, W, acc, cfg, it = features_of(run, args.data_dir, args.limit)
        gap = angular_gap(feats, y, W)
        report.append({"run": run, "loss": cfg.loss, "iteration": it, "test_accuracy": acc,
                       "mean_angular_gap_deg": round(gap, 2)})
        cmap = plt.get_cmap("tab10")
        ax.scatter(feats[:, 0], feats[:, 1], c=[cmap(k % 10) for k in y], s=1, alpha=0.4, rasterized=True)
        reach = np.percentile(np.linalg.norm(feats, axis=1), 99)
        for k in range(W.shape[1]):
            d = W[:, k] / max(np.linalg.norm(W[:, k]), 1e-12) * reach
            ax.plot([0, d[0]], [0, d[1]], color=cmap(k % 10), lw=1.5)
            ax.annotate(str(k), d * 1.05, ha="center", va="center", fontsize=8)
        name = cfg.loss + (f" (V={cfg.ensemble}, m={cfg.margin}, λ={cfg.lam})" if cfg.loss != "softmax" else "")
        ax.set_title(f"{name}\n{cfg.network}, {it} its: test {100 * acc:.2f} %", fontsize=9)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.8", lw=0.5)
        ax.axvline(0, color="0.8", lw=0.5)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
