"""Summarise a mutmut run per area, and draw uniform samples of the mutants it has not checked.

The full mutation run (``mutmut run``, configured in pyproject.toml) takes many hours on two
cores, mostly in ``training/`` and ``cli.py``, whose mutants run whole (short) training runs.
This script lets a time-boxed run stay honest:

    python scripts/mutation_report.py sample --per-area 40 --seed 0 > names.txt
    mutmut run $(cat names.txt)          # a uniform sample of the unchecked mutants
    python scripts/mutation_report.py report --sample-file names.txt

``report`` prints, per area (training/, optim.py, cli.py, losses/, functional/), the tool's own
counts (mutants, killed, survived, timeouts, no tests, not checked) and the killed fraction
among the checked mutants; with ``--sample-file names.txt`` also a stratified estimate of the
area's score: mutants checked before the sample count exactly, the sample (a uniform draw of the
rest) stands for the rest, with a 95 % Wilson interval.

Run both from the folder holding ``mutants/`` (the repository root). The hand-made mutations
(deliberate bugs written by hand, not by mutmut) are run by ``scripts/hand_mutations.py``.
"""
import argparse
import math
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict

AREAS = ("training", "optim", "cli", "losses", "functional")
# mutmut 3's statuses; "killed" and "timeout" both count as caught (mutmut's own score does).
CAUGHT = ("killed", "timeout")


def area_of(name):
    """``emsm_np.training.loop.x_run__mutmut_3`` -> ``training``."""
    part = name.split(".")[1]
    return part if part in AREAS else None


def results():
    """``{mutant name: status}`` from ``mutmut results --all true``."""
    out = subprocess.run(["mutmut", "results", "--all", "true"], capture_output=True, text=True,
                         check=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"^\s*(emsm_np\.\S+): (.+)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    if not found:
        sys.exit("mutation_report: mutmut listed no mutants; run `mutmut run` first, from the folder holding mutants/")
    return found


def wilson(k, n, z=1.96):
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def sample(args):
    by_area = defaultdict(list)
    for name, status in sorted(results().items()):
        if status == "not checked" and area_of(name):
            by_area[area_of(name)].append(name)
    rng = random.Random(args.seed)
    for area in AREAS:
        names = by_area[area]
        for name in rng.sample(names, min(args.per_area, len(names))):
            print(name)


def report(args):
    status = results()
    sampled = set()
    if args.sample_file:
        with open(args.sample_file) as f:
            sampled = {line.strip() for line in f if line.strip()}
    counts = defaultdict(Counter)
    for name, s in status.items():
        if area_of(name):
            counts[area_of(name)][s] += 1
    print("| area | mutants | killed | timeout | survived | no tests | other | not checked | caught / checked | estimated score (95 % interval) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for area in AREAS:
        c = counts[area]
        total = sum(c.values())
        caught = sum(c[s] for s in CAUGHT)
        checked = total - c["not checked"]
        other = checked - caught - c["survived"] - c["no tests"]
        share = f"{caught}/{checked} = {100 * caught / checked:.1f} %" if checked else "-"
        print(f"| {area} | {total} | {c['killed']} | {c['timeout']} | {c['survived']} | {c['no tests']} | "
              f"{other} | {c['not checked']} | {share} | {estimate(area, status, sampled)} |")
    if args.survivors:
        print()
        for name, s in sorted(status.items()):
            if s == "survived":
                print(name)


def estimate(area, status, sampled):
    """The area's score: exact where every mutant was checked, else stratified.

    Stratum A: mutants checked outside the sample (counted exactly). Stratum B: the rest, of
    which the sample is a uniform draw; its caught fraction (Wilson interval) stands for all of B.
    """
    names = [n for n in status if area_of(n) == area]
    a = [n for n in names if n not in sampled and status[n] != "not checked"]
    b = [n for n in names if n not in a]
    b_checked = [n for n in b if status[n] != "not checked"]
    caught_a = sum(status[n] in CAUGHT for n in a)
    if not b:
        return f"{100 * caught_a / len(a):.1f} % (all checked)"
    if not b_checked:
        return "-"
    k = sum(status[n] in CAUGHT for n in b_checked)
    lo, hi = wilson(k, len(b_checked))
    point = (caught_a + len(b) * k / len(b_checked)) / len(names)
    low = (caught_a + len(b) * lo) / len(names)
    high = (caught_a + len(b) * hi) / len(names)
    return (f"{100 * point:.1f} % ({100 * low:.1f}-{100 * high:.1f} %; {len(a)} counted, "
            f"{len(b_checked)} sampled of {len(b)})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="print a uniform sample of unchecked mutants per area")
    s.add_argument("--per-area", type=int, default=40)
    s.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("report", help="per-area counts and killed fractions (Markdown)")
    r.add_argument("--survivors", action="store_true", help="also list the surviving mutants")
    r.add_argument("--sample-file", help="the names `sample` drew (a stratified estimate where not all were run)")
    args = p.parse_args(argv)
    {"sample": sample, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
