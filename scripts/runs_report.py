"""A Markdown table of finished ``emsm train`` runs: configuration, accuracy curve, time.

Not a test: it reads the run directories that ``emsm train`` left (``config.json``,
``metrics.csv``, ``summary.json``) and writes what they measured. Used for
``docs/results/defaults.md``, the runs of ``emsm train`` at its defaults::

    emsm train --dataset mnist --data-dir DATA --run-dir runs/lenet-em-softmax
    emsm train --dataset mnist --data-dir DATA --loss softmax --run-dir runs/lenet-softmax
    python scripts/runs_report.py runs/lenet-em-softmax runs/lenet-softmax --out docs/results/defaults.md
"""
import argparse
import csv
import json
import os
import platform


def describe(run):
    with open(os.path.join(run, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(run, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(run, "summary.json")) as f:
        summary = json.load(f)
    curve = " / ".join(f"{100 * float(r['test_accuracy']):.2f}" for r in rows)
    best = max(rows, key=lambda r: float(r["test_accuracy"]))
    its = int(summary["iterations"])
    return (f"| {cfg['network']} | {cfg['loss']} | {cfg['dataset']} | {cfg['batch_size']} | {cfg['lr']:g} "
            f"({', '.join(map(str, cfg['milestones'])) or 'no milestone'}) | {its} | {curve} | "
            f"**{100 * summary['test_accuracy']:.2f}** (best {100 * float(best['test_accuracy']):.2f} at "
            f"{best['iteration']}) | {summary['wall_time']:.0f} s ({summary['wall_time'] / its:.3f} s/it) | "
            f"{summary.get('status', '-')} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run directories of finished emsm train runs")
    p.add_argument("--out", help="write the table here (Markdown) as well as printing it")
    p.add_argument("--note", default="", help="a sentence on how and where the runs were made")
    args = p.parse_args()
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs. {args.note}",
             "",
             "| network | loss | data | batch | lr (milestones) | iterations | test accuracy at each evaluation (%) "
             "| final test accuracy (%) | wall time | status |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [describe(run) for run in args.runs]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
