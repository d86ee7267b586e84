"""The PNG of Fig. 1 or Fig. 2: accuracy vs lambda or vs V, one panel per data set (as the
paper's CIFAR10 and CIFAR100 panels), error bars the 95 % CI over seeds, the paper's
number marked at lambda = 0.1 and V = 2 (Table 4's EM-Softmax, else Table 1's: the text does not
state those tables' V, nor Table 1's lambda, so the mark's place is emsm_np's assumption)."""
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

AXIS = {"fig1": "λ (HSIC weight)", "fig2": "V (weak classifiers)"}


def plot_sweep(path, experiment, report):
    """Write the figure of ``report`` (as :func:`~emsm_np.reproduce.report.write_report` makes it)
    to ``path``; return ``path``, or None when no data set has results."""
    panels = [(ds, e["rows"]) for ds, e in report["datasets"].items() if "rows" in e]
    if not panels:
        return None
    fig = Figure(figsize=(5.5 * len(panels), 4))
    FigureCanvasAgg(fig)
    for i, (ds, rows) in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), i)
        done = [r for r in rows if r["n"]]
        xs = [r["x"] for r in done]
        ys = [r["mean"] for r in done]
        err = [[r["mean"] - r["ci_low"] if r["n"] > 1 else 0 for r in done],
               [r["ci_high"] - r["mean"] if r["n"] > 1 else 0 for r in done]]
        n = min((r["n"] for r in done), default=0)
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=4,
                    label=f"emsm_np, mean of {n} seed{'s' if n != 1 else ''}" + (", 95 % CI" if n > 1 else ""))
        marks = [r for r in rows if r["paper"] is not None]
        if marks:
            ax.plot([r["x"] for r in marks], [r["paper"] for r in marks], "r*", markersize=14,
                    label="paper: " + marks[0]["paper_source"])
        if experiment == "fig1":
            nonzero = [x for x in xs if x > 0]
            ax.set_xscale("symlog", linthresh=min(nonzero) if nonzero else 1.0)
        else:
            ax.set_xticks(xs)
        ax.set_xlabel(AXIS[experiment])
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{ds} ({report['preset']} preset)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below: never over a point
    fig.suptitle(("Fig. 1" if experiment == "fig1" else "Fig. 2") +
                 " of the paper: its curves are plots only, not in the text", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
