"""The results folder of an experiment: ``results.md`` (the table beside the paper's numbers),
``results.json``, ``runs.csv`` (one row per run) and, for the figures, ``<experiment>.png``."""
import csv
import json
import os
import subprocess

from .experiments import COMPARED_ROWS, paper_number, reference
from .paper import FIG1_TEXT, FIG2_TEXT, MARGIN_TEXT, PAPER_DATASETS, TABLE1, paper_key
from .stats import summarize, welch

TITLES = {
    "table1": "Table 1: Softmax, M-Softmax, E-Softmax and EM-Softmax",
    "fig1": "Fig. 1: accuracy vs λ (EM-Softmax, V = 2)",
    "fig2": "Fig. 2: accuracy vs the ensemble number V (EM-Softmax, λ = 0.1)",
    "table4": "Table 4: dropout on the feature layer",
    "margin": "The margin m, chosen on a validation split (Sec. 4.4)",
}
ABOUT = {
    "table1": "Table 1 of the paper (Sec. 4.5); its cells marked * (Softmax, and of the compared losses "
              "HingeLoss and L-Softmax, except CIFAR100+) are cropped from L-Softmax's paper, the others the "
              "authors ran with hyper-parameters they tuned and do not give (Sec. 4.2).",
    "fig1": FIG1_TEXT, "fig2": FIG2_TEXT,
    "table4": "Table 4 of the paper (Sec. 4.8): dropout after the second last FC layer, its rate tuned in "
              "{0.3, 0.5, 0.7} (which rate won is not given), λ = 0.1.",
    "margin": MARGIN_TEXT,
}


def _pct(values):
    return [100 * v for v in values if v is not None]


def _mean_std(s):
    if s.n == 0:
        return "—"
    return f"{s.mean:.2f} ± {s.std:.2f}" if s.n > 1 else f"{s.mean:.2f} (1 seed)"


def _ci(s):
    return f"[{s.ci_low:.2f}, {s.ci_high:.2f}]" if s.n > 1 else "n/a (1 seed)"


def _test(values, ref_values, is_ref):
    if is_ref:
        return "(reference)", ""
    if len(values) < 2 or len(ref_values) < 2:
        return "n/a (1 seed)", "n/a"
    res = welch(values, ref_values)
    return ("n/a (no spread)", "n/a") if res is None else (f"{res[0]:.2f}", f"{res[1]:.3g}")


def _rows(experiment, rows, dataset, results):
    """Per setting: label, x, test and validation values (%) with the seed of each, their summaries,
    the paper's number."""
    out = []
    for s in rows:
        mine = sorted((r for r in results if r["dataset"] == dataset and r["setting"] == s.key),
                      key=lambda r: r["seed"])
        ok = [r for r in mine if r["status"] != "diverged"]
        test, val = _pct(r["test_accuracy"] for r in ok), _pct(r["val_accuracy"] for r in ok)
        paper, source = paper_number(experiment, s, dataset)
        out.append({"key": s.key, "label": s.label, "x": s.x, "test": test, "val": val,
                    "seeds": [r["seed"] for r in ok if r["test_accuracy"] is not None],
                    "diverged_seeds": [r["seed"] for r in mine if r["status"] == "diverged"],
                    "diverged": len(mine) - len(ok), "summary": summarize(test), "val_summary": summarize(val),
                    "paper": paper, "paper_source": source})
    return out


def _value(v):
    """A per-seed accuracy in per cent: two decimals when that is exact (10,000 test images), else four."""
    return f"{v:.2f}" if abs(v - round(v, 2)) < 1e-9 else f"{v:.4f}"


def _per_seed_table(data, seeds, what="test"):
    """Every seed's accuracy (%) per setting: the values each statistic of the table is computed from."""
    lines = [f"Per-seed {what} accuracy (%), the values every statistic above is computed from (also in "
             "`results.json`):", "",
             "| setting | " + " | ".join(f"seed {k}" for k in range(seeds)) + " |",
             "|---|" + "---|" * seeds]
    for r in data:
        values = r["test"] if what == "test" else r["val"]
        by_seed = dict(zip(r["seeds"], values))
        cells = [_value(by_seed[k]) if k in by_seed else ("diverged" if k in r["diverged_seeds"] else "—")
                 for k in range(seeds)]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return lines


def code_version():
    """``{"emsm_np": version, "commit": short hash or None, "dirty": bool or None}`` of the code that ran:
    the commit of the git checkout the package is imported from, if it is one."""
    from .. import __version__

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "emsm_np"],
                                    cwd=os.path.dirname(os.path.dirname(here)), capture_output=True, text=True,
                                    check=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"emsm_np": __version__, "commit": commit, "dirty": dirty}


def _table(data, ref):
    ref_row = next(r for r in data if r["key"] == ref)
    lines = [f"| setting | seeds | test accuracy, mean ± std (%) | 95 % CI (%) | paper (%) | paper's source "
             f"| Δ mean vs {ref_row['label']} (pp) | Welch's t vs {ref_row['label']} | p |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in data:
        s = r["summary"]
        t, p = _test(r["test"], ref_row["test"], r["key"] == ref)
        r["welch_t"], r["welch_p"] = t, p
        delta = (f"{s.mean - ref_row['summary'].mean:+.2f}" if s.n and ref_row["summary"].n and r["key"] != ref
                 else "")
        paper = f"{r['paper']:.2f}" if r["paper"] is not None else ""
        seeds = f"{s.n}" + (f" ({r['diverged']} diverged)" if r["diverged"] else "")
        lines.append(f"| {r['label']} | {seeds} | {_mean_std(s)} | {_ci(s)} | {paper} | {r['paper_source']} "
                     f"| {delta} | {t} | {p} |")
    return lines


def _margin_table(data):
    found = [r for r in data if r["val_summary"].n]
    chosen = max(found, key=lambda r: r["val_summary"].mean) if found else None
    lines = ["| m | seeds | validation accuracy, mean ± std (%) | 95 % CI (%) | Welch's t vs chosen m (validation) "
             "| p | test accuracy, mean ± std (%) | 95 % CI (%) | paper (%) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in data:
        v, s = r["val_summary"], r["summary"]
        is_chosen = r is chosen
        t, p = _test(r["val"], chosen["val"] if chosen else [], is_chosen)
        r["welch_t"], r["welch_p"], r["chosen"] = t, p, is_chosen
        label = f"**{r['label']}** (chosen)" if is_chosen else r["label"]
        lines.append(f"| {label} | {v.n} | {_mean_std(v)} | {_ci(v)} | {t} | {p} | {_mean_std(s)} | {_ci(s)} "
                     f"| {r['paper_source']} |")
    return lines, chosen


def write_report(out, experiment, preset, seeds, runs, results, missing, command, hsic_gradient):
    """Write the results folder of one experiment; return what ``results.json`` holds."""
    os.makedirs(out, exist_ok=True)
    rows = list({s.key: s for _, s, _, _ in runs}.values())  # the settings planned, in table order
    datasets = list(dict.fromkeys(ds for ds, _, _, _ in runs))
    cfg = runs[0][3]
    compared = _compared(runs)
    title = TITLES[experiment] + (", and the compared losses" if compared else "")
    lines = [f"# {title} ({preset.name} preset)", "",
             f"Command: `{command}`", "",
             f"Preset {preset.name}: {_recipe(runs)}; seeds 0 to {seeds - 1}, one run each. "
             "λ is applied with the " + ("exact" if hsic_gradient == "exact" else "paper's stated, λ W_v K_v,") +
             " HSIC gradient (the paper's is a quarter of the exact one: docs/derivations.md, 'The paper's HSIC "
             "gradient').",
             "", f"The paper: {ABOUT[experiment]}", "",
             "Accuracy: of the averaged classifier (Sec. 4.3) on the test set at the end of each run, in per "
             "cent. Mean ± sample standard deviation over seeds; 95 % CI: the t interval; Welch's t: two-sided "
             "(scipy.stats.ttest_ind, equal_var=False) against the reference row. Nothing is corrected for "
             "multiple comparisons." + (" The margin search trains on the training images less the "
                                        "validation split and picks the m of the best mean validation accuracy; "
                                        "its Welch's t compares validation accuracies." if experiment == "margin"
                                        else ""),
             "", f"Unless a row says otherwise: M-/EM-Softmax m = {_margin(runs)}, E-/EM-Softmax V = 2 and "
                 "λ = 0.1 (Sec. 4.4), normalisation " + cfg.normalize + "." +
             (f" The compared losses at emsm train's defaults (the paper's tuned values are not given): {compared}."
              if compared else "")]
    extra = [ds for ds in datasets if paper_key(ds) not in PAPER_DATASETS]
    if extra:
        lines += ["", f"Not a data set of the paper: {', '.join(extra)}. Its rows have no paper number beside "
                      "them; they test the paper's claim (EM-Softmax above Softmax, M- and E-Softmax, and the "
                      "compared losses), not a number of the paper."]
    if cfg.dataset == "mnist-sample":
        lines += ["", "Smoke preset: seconds of training on the embedded MNIST sample, to test the machinery; "
                      "its numbers say nothing about the paper's (shown beside them: full MNIST)."]
    code = code_version()
    lines[4:4] = [f"Code: emsm_np {code['emsm_np']}" + (f", commit {code['commit']}" if code["commit"] else "") +
                  (" (with uncommitted changes to emsm_np/)" if code["dirty"] else "") + ".", ""]
    report = {"experiment": experiment, "preset": preset.name, "seeds": seeds, "command": command, "code": code,
              "datasets": {}}
    for ds in datasets:
        lines += ["", f"## {ds}", ""]
        if ds in missing:
            lines += ["Data not found, not run (emsm reproduce downloads MNIST only):", "", "```text",
                      missing[ds], "```"]
            report["datasets"][ds] = {"missing": missing[ds]}
            continue
        data = _rows(experiment, rows, ds, results)
        entry = {}
        if experiment == "margin":
            table, chosen = _margin_table(data)
            lines += table
            if chosen is not None:
                s, em = chosen["summary"], TABLE1["em-softmax"].get(paper_key(ds))
                lines += ["", f"Chosen on the validation split (the last {cfg.validation:,} training images, never "
                              f"trained on): {chosen['label']}. Its test accuracy: {_mean_std(s)} %, 95 % CI "
                              f"{_ci(s)}; trained on the other training images." +
                              (f" The paper's EM-Softmax on {paper_key(ds)}, with its own chosen m (not given): "
                               f"{em:.2f} % (Table 1)." if em is not None else "")]
                entry["chosen"] = chosen["key"]
        else:
            lines += _table(data, reference(experiment, rows))
        lines += [""] + _per_seed_table(data, seeds)
        if experiment == "margin":
            lines += [""] + _per_seed_table(data, seeds, "validation")
        entry["reference"] = reference(experiment, rows) if experiment != "margin" else entry.get("chosen")
        entry["rows"] = [{"key": r["key"], "label": r["label"], "x": r["x"], "seeds": r["seeds"],
                          "test_accuracy": r["test"], "val_accuracy": r["val"], "diverged": r["diverged"],
                          "diverged_seeds": r["diverged_seeds"],
                          **{k: v for k, v in r["summary"]._asdict().items()},
                          "val_mean": r["val_summary"].mean, "paper": r["paper"], "paper_source": r["paper_source"],
                          "welch_t": r.get("welch_t"), "welch_p": r.get("welch_p")} for r in data]
        report["datasets"][ds] = entry
    if experiment in ("fig1", "fig2"):
        from .figure import plot_sweep

        png = plot_sweep(os.path.join(out, f"{experiment}.png"), experiment, report)
        lines += ["", f"![{TITLES[experiment]}]({experiment}.png)" if png else "No figure: no data set was found."]
        report["figure"] = png
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["dataset", "setting", "seed", "status", "test_accuracy", "val_accuracy",
                                          "wall_time", "run_dir"])
        w.writeheader()
        w.writerows(results)
    report["out"] = os.path.abspath(out)
    return report


def _compared(runs):
    """The settings of the compared losses' rows, in words ("" if there are none)."""
    cfgs = {cfg.loss: cfg for _, _, _, cfg in runs}
    said = {"hinge": lambda c: f"HingeLoss {c.hinge_norm}",
            "center": lambda c: f"CenterLoss λ = {c.center_lam:g}, α = {c.center_alpha:g}",
            "a-softmax": lambda c: f"A-Softmax m = {c.margin}, {_beta(c.beta)}",
            "n-softmax": lambda c: f"N-Softmax s = {c.scale:g}" + (" learned" if c.learn_scale else " fixed"),
            "l-softmax": lambda c: f"L-Softmax m = {c.margin}, {_beta(c.beta)}"}
    return "; ".join(said[loss](cfgs[loss]) for loss, _ in COMPARED_ROWS if loss in cfgs)


def _beta(beta):
    return f"β annealed by the {beta} schedule" if isinstance(beta, str) else f"β = {beta:g}"


def _margin(runs):
    ms = sorted({cfg.margin for _, s, _, cfg in runs if cfg.loss in ("m-softmax", "em-softmax")
                 and "margin" not in s.fields})
    if not ms:
        return "as in each row"
    return ", ".join(f"{m:g}" for m in ms) + (" (emsm_np's default: the paper's chosen m is not given; "
                                               "emsm reproduce margin searches it)" if ms == [0.3] else "")


def _recipe(runs):
    nets = sorted({(ds, cfg.network) for ds, _, _, cfg in runs})
    cfg = runs[0][3]
    ms = ", ".join(f"{m:,}" for m in cfg.milestones)
    return (", ".join(f"{net} on {ds}" for ds, net in nets) + f", {cfg.max_iter:,} iterations at batch "
            f"{cfg.batch_size}, SGD lr {cfg.lr:g} divided by 10 at {ms} (momentum {cfg.momentum:g}, weight decay "
            f"{cfg.weight_decay:g}), on the {cfg.device}")
