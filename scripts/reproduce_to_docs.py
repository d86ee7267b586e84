"""Copy an ``emsm reproduce`` results folder into the docs' Results page.

    python scripts/reproduce_to_docs.py runs/reproduce/table1-cpu table1_cpu
    python scripts/reproduce_to_docs.py runs/reproduce/fig2-cpu fig2_cpu --note "shared the two cores with ..."

writes ``docs/results/NAME.md`` (the folder's ``results.md`` with every heading moved two
levels down, since the page includes it under its own ``##`` section, and a line naming the
machine, the date and the commit), ``docs/results/NAME.json`` (the folder's ``results.json``:
every seed's accuracy beside the statistics, the command and the commit, so that a reader can
recompute the table; ``tests/test_results_statistics.py`` does) and, when the folder has a
figure, ``docs/_static/NAME.png`` with the link rewritten to it. The numbers are the runner's,
not retyped. Paths in the command are rewritten so that nothing points outside the
repository: ``--data-dir X`` becomes ``--data-dir DATA`` (the convention of docs/results.md)
and ``--out X`` becomes ``--out runs/reproduce/<last part of X>``.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def demote(text, levels=2):
    """Move every Markdown heading ``levels`` deeper (``# T`` -> ``### T``), code blocks left alone."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,6} ", line):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out)


def portable(command):
    """``command`` with its data and output paths made repository-relative (see the module docstring)."""
    command = re.sub(r"--data-dir \S+", "--data-dir DATA", command)
    return re.sub(r"--out (\S+)", lambda m: "--out runs/reproduce/" + os.path.basename(m.group(1).rstrip("/")),
                  command)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="an emsm reproduce --out folder holding results.md")
    ap.add_argument("name", help="the docs/results file name, without .md (e.g. table1_cpu)")
    ap.add_argument("--note", default="", help="a sentence on the machine or the run, added to the header line")
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs"), help="the docs folder (default: this repository's)")
    args = ap.parse_args(argv)
    src = os.path.join(args.folder, "results.md")
    if not os.path.isfile(src):
        ap.error(f"folder: no results.md in {args.folder}; run emsm reproduce with --out {args.folder} first")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", args.name):
        ap.error(f"name: letters, digits, _ and - only, got {args.name!r}")
    with open(src) as f:
        text = demote(f.read())
    report_path = os.path.join(args.folder, "results.json")
    report = None
    if os.path.isfile(report_path):
        with open(report_path) as f:
            report = json.load(f)
    text = re.sub(r"(?m)^(Command: `)([^`]*)(`)", lambda m: m.group(1) + portable(m.group(2)) + m.group(3), text)
    pngs = sorted(glob.glob(os.path.join(args.folder, "*.png")))
    for png in pngs:
        target = f"{args.name}.png" if len(pngs) == 1 else f"{args.name}-{os.path.basename(png)}"
        shutil.copyfile(png, os.path.join(args.docs, "_static", target))
        text = text.replace(f"]({os.path.basename(png)})", f"](/_static/{target})")
    ran = (report or {}).get("code", {}).get("commit")
    code = f"code at commit {ran}" if ran else f"code at commit {commit()} (when copied; the run did not record one)"
    header = (f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, "
              f"{datetime.date.today().isoformat()}, {code}"
              + (f"; {args.note}" if args.note else "") + ".\n\n")
    lines = text.split("\n", 2)  # the title line, the blank line, the rest
    text = lines[0] + "\n\n" + header + (lines[2] if len(lines) > 2 else "")
    out = os.path.join(args.docs, "results", f"{args.name}.md")
    with open(out, "w") as f:
        f.write(text.rstrip("\n") + "\n")
    print(out)
    if report is not None:
        report = dict(report, command=portable(report["command"]))
        report.pop("out", None)
        report.pop("figure", None)  # a path on the machine that ran it; the page links the copy
        report["published"] = {"by": "scripts/reproduce_to_docs.py", "date": datetime.date.today().isoformat(),
                               "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs",
                               "note": args.note, "page": f"docs/results/{args.name}.md"}
        out_json = os.path.join(args.docs, "results", f"{args.name}.json")
        with open(out_json, "w") as f:
            json.dump(report, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(out_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
