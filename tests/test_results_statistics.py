"""Every statistic printed in docs/results, recomputed from the per-seed values published beside it.

Each table of `emsm reproduce` on the Results page (``docs/results/NAME.md``) has a
machine-readable file beside it (``docs/results/NAME.json``, written by
``scripts/reproduce_to_docs.py`` from the run's ``results.json``) holding every seed's
accuracy. This test recomputes, from those values alone and independently of
``emsm_np.reproduce.stats``, every printed mean, sample standard deviation, 95 % t interval,
difference of means and Welch's t and p, and checks the per-seed table printed on the page
against the file. Where a page's per-seed values were not kept (the first cpu-preset runs),
its file says so, the page says so in the same words, and only the rows whose every seed is
known are recomputed; the others are checked for agreement between the page and the file.
"""
import json
import math
import pathlib
import re

import numpy as np
import pytest
from scipy import stats

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
PUBLISHED = sorted(p for p in RESULTS.glob("*.json") if "experiment" in json.loads(p.read_text(encoding="utf-8")))


def _mean_std_ci(values):
    a = np.asarray(values, dtype=np.float64)
    n = len(a)
    mean = a.sum() / n
    std = math.sqrt(((a - mean) ** 2).sum() / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def _welch(a, b):
    """Welch's two-sided t-test written out: t, and p from the Welch-Satterthwaite degrees of freedom."""
    (ma, sa, *_), (mb, sb, *_) = _mean_std_ci(a), _mean_std_ci(b)
    va, vb = sa ** 2 / len(a), sb ** 2 / len(b)
    t = (ma - mb) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return t, 2 * stats.t.sf(abs(t), df)


def _close_to_printed(value, printed, decimals=2):
    """``printed`` is ``value`` rounded to ``decimals`` (half a unit of the last place, and no more)."""
    return abs(value - float(printed)) <= 0.5 * 10 ** -decimals + 1e-9


def _close_to_3_significant(value, printed):
    last = 10 ** (math.floor(math.log10(abs(float(printed)))) - 2)
    return abs(value - float(printed)) <= 0.5 * last * (1 + 1e-6)


def _section(md, dataset):
    """The part of a page under its ``#### <dataset>`` heading."""
    parts = re.split(r"(?m)^#{2,6} ", md)
    found = [p for p in parts if p.split("\n", 1)[0].strip() == dataset]
    assert len(found) == 1, f"no single '#### {dataset}' section"
    return found[0]


def _tables(section):
    """Every Markdown table of a section: a list of (header cells, {first cell: row cells})."""
    out = []
    for block in re.findall(r"(?m)((?:^\|.*\|\n?)+)", section):
        lines = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.strip().split("\n")]
        out.append((lines[0], {row[0]: row for row in lines[2:]}))
    return out


def _stats_table(section):
    return next(t for t in _tables(section) if any("mean ± std" in h for h in t[0]))


def _per_seed_table(section):
    return next(t for t in _tables(section) if t[0][1:] and t[0][1].startswith("seed "))


def _known(row):
    return [v for v in row["test_accuracy"] if v is not None]


def _complete(row):
    return len(_known(row)) == row["n"] == len(row["test_accuracy"])


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem)
def test_every_printed_statistic_is_recomputed_from_the_published_per_seed_values(path):
    check_published(path)


def test_a_run_copied_by_reproduce_to_docs_publishes_what_the_recomputation_needs(tmp_path):
    """A smoke run through the runner and scripts/reproduce_to_docs.py: its page and file pass the same
    checks, with every row complete, and no path of the machine is left in either."""
    import runpy

    from emsm_np.reproduce import run_experiment

    out = tmp_path / "runs" / "fig1-smoke"
    run_experiment("fig1", "smoke", seeds=3, out=str(out), log=lambda m: None,
                   command=f"emsm reproduce fig1 --preset smoke --seeds 3 --out {out}")
    docs = tmp_path / "docs"
    (docs / "results").mkdir(parents=True)
    (docs / "_static").mkdir()
    script = runpy.run_path(str(ROOT / "scripts" / "reproduce_to_docs.py"))
    assert script["main"]([str(out), "fig1_smoke", "--docs", str(docs)]) == 0
    published = docs / "results" / "fig1_smoke.json"
    report = json.loads(published.read_text(encoding="utf-8"))
    assert report["command"] == "emsm reproduce fig1 --preset smoke --seeds 3 --out runs/reproduce/fig1-smoke"
    assert str(tmp_path) not in published.read_text() + (docs / "results" / "fig1_smoke.md").read_text()
    rows = report["datasets"]["mnist-sample"]["rows"]
    assert all(_complete(r) and r["seeds"] == [0, 1, 2] for r in rows) and report["code"]["emsm_np"]
    check_published(published)


def check_published(path):
    """Recompute every statistic of the page beside ``path`` (a published results file) from its values."""
    report = json.loads(path.read_text(encoding="utf-8"))
    md = path.with_suffix(".md").read_text(encoding="utf-8")
    assert report["experiment"] != "margin", "the margin search's table has its own layout: extend this test"
    assert f"`{report['command']}`" in md  # the command that produced the table is on the page
    for text in (json.dumps(report), md):  # nothing points outside the repository
        assert not re.search(r"--(data-dir|out) /", text)
    incomplete = [r["label"] for e in report["datasets"].values() for r in e.get("rows", ()) if not _complete(r)]
    if incomplete:  # the page says, in the file's words, that these values were not kept
        note = report["per_seed_note"]
        assert " ".join(note.split()) in " ".join(md.split())
    checked = 0
    for dataset, entry in report["datasets"].items():
        if "rows" not in entry:
            continue
        section = _section(md, dataset)
        header, printed = _stats_table(section)
        col = {h: i for i, h in enumerate(header)}
        ref = next(r for r in entry["rows"] if r["key"] == entry["reference"])
        seed_header, seed_rows = _per_seed_table(section)
        assert seed_header[1:] == [f"seed {k}" for k in range(report["seeds"])]
        for row in entry["rows"]:
            cells = printed[row["label"]]
            assert cells[col["seeds"]].split(" ")[0] == str(row["n"])
            mean_std = cells[col["test accuracy, mean ± std (%)"]]
            ci = cells[col["95 % CI (%)"]]
            m, s = mean_std.split(" ± ")
            lo, hi = ci.strip("[]").split(", ")
            # The page's per-seed table is the file's values (None: not kept).
            by_seed = dict(zip(row["seeds"], row["test_accuracy"]))
            for k in range(report["seeds"]):
                cell = seed_rows[row["label"]][1 + k]
                value = by_seed.get(k)
                if value is None:
                    assert cell in ("not kept", "—", "diverged"), (row["label"], k, cell)
                else:
                    decimals = len(cell.split(".")[1]) if "." in cell else 0
                    assert _close_to_printed(value, cell, decimals), (row["label"], k, value, cell)
            if not _complete(row):  # only the page and the file can be compared
                assert [float(x) for x in (m, s, lo, hi)] == [row["mean"], row["std"], row["ci_low"], row["ci_high"]]
                continue
            mean, std, ci_low, ci_high = _mean_std_ci(row["test_accuracy"])
            for value, text in ((mean, m), (std, s), (ci_low, lo), (ci_high, hi)):
                assert _close_to_printed(value, text), (row["label"], value, text)
            if "rounded_as_printed" not in report:  # the runner's file: its own numbers are exact
                assert np.allclose([row["mean"], row["std"], row["ci_low"], row["ci_high"]],
                                   [mean, std, ci_low, ci_high], rtol=0, atol=1e-9)
            checked += 1
            if row is ref or not _complete(ref):
                continue
            delta = next(cells[i] for h, i in col.items() if h.startswith("Δ mean vs"))
            assert _close_to_printed(mean - _mean_std_ci(ref["test_accuracy"])[0], delta), row["label"]
            t_text = next(cells[i] for h, i in col.items() if h.startswith("Welch's t vs"))
            if t_text.startswith("n/a"):  # no spread on either side: the test is undefined
                assert np.std(row["test_accuracy"]) == np.std(ref["test_accuracy"]) == 0, row["label"]
                continue
            t, p = _welch(row["test_accuracy"], ref["test_accuracy"])
            assert _close_to_printed(t, t_text), (row["label"], t, t_text)
            assert _close_to_3_significant(p, cells[col["p"]]), (row["label"], p, cells[col["p"]])
    assert checked or incomplete  # a file with nothing to check would prove nothing


def test_every_page_with_statistics_over_seeds_has_its_per_seed_file():
    """A table of means over seeds in docs/results has the file of its per-seed values beside it."""
    pages = [p for p in RESULTS.glob("*.md")
             if p.name != "README.md" and "mean ± std" in p.read_text(encoding="utf-8")]
    assert pages, "no page with statistics over seeds found"
    assert {p.stem for p in pages} <= {p.stem for p in PUBLISHED}


def test_the_recomputation_would_catch_a_wrong_number():
    """The helpers against hand values: a mean off by 0.01 or a p off in its third digit is caught."""
    a, b = [99.42, 99.43, 99.50], [99.40, 99.41, 99.45, 99.38, 99.44]
    mean, std, lo, hi = _mean_std_ci(a)
    assert _close_to_printed(mean, "99.45") and not _close_to_printed(mean, "99.46")
    assert _close_to_printed(std, "0.04") and _close_to_printed(lo, "99.34") and _close_to_printed(hi, "99.56")
    t, p = _welch(a, b)
    reference = stats.ttest_ind(a, b, equal_var=False)
    assert np.isclose(t, reference.statistic) and np.isclose(p, reference.pvalue)
    assert _close_to_3_significant(p, f"{p:.3g}") and not _close_to_3_significant(p + 2e-3 * p, f"{p:.3g}")
