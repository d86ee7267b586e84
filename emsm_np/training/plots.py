"""PNG plots of a run's metrics (matplotlib, no display needed)."""
import csv

# matplotlib's object API (Figure + the Agg canvas) writes files without
# pyplot, so importing this module never changes the user's plotting backend
# and it works on machines without a screen.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _figure():
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def read_metrics(path):
    """Rows of ``metrics.csv`` as dicts of floats."""
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def plot_run(metrics_csv, out_dir, title=""):
    """Write ``loss.png`` and ``accuracy.png`` into ``out_dir``; return their paths."""
    rows = read_metrics(metrics_csv)
    it = [r["iteration"] for r in rows]
    paths = []

    fig, ax = _figure()
    ax.plot(it, [r["train_loss"] for r in rows], marker="o", label="train loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss (mean since the last evaluation)")
    ax.set_yscale("log")
    ax.set_title(title or "training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    paths.append(f"{out_dir}/loss.png")
    fig.savefig(paths[-1], dpi=100)

    fig, ax = _figure()
    ax.plot(it, [100 * r["test_accuracy"] for r in rows], marker="o", label="averaged classifier")
    weak = sorted(k for k in (rows[0] if rows else {}) if k.startswith("weak_accuracy_"))
    for k in weak:
        ax.plot(it, [100 * r[k] for r in rows], ls="--", alpha=0.7, label=k.replace("weak_accuracy_", "weak classifier "))
    if rows and "val_accuracy" in rows[0]:
        ax.plot(it, [100 * r["val_accuracy"] for r in rows], marker="s", label="averaged, held-out validation")
    ax.set_xlabel("iteration")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "test accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    paths.append(f"{out_dir}/accuracy.png")
    fig.savefig(paths[-1], dpi=100)
    return paths
