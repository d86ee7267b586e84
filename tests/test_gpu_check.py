"""benchmarks/gpu_check.py, the prepared GPU check (issue 23, item 5): each section is in the
results file as soon as it ends, a section that raises or runs out of time leaves the others
(and what it had written), ``--sections`` picks sections, a subprocess is stopped at its
deadline with its output kept. CI runs the whole script in smoke mode under the CuPy double
(``.ci/run``); here the machinery, and two sections in smoke mode."""
import importlib.util
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.py")


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_section_is_in_the_file_when_the_next_starts_and_one_that_raises_leaves_the_rest(gc, tmp_path):
    out = tmp_path / "check.md"
    report = gc.Report(str(out))
    seen_at_start = {}

    def section(name, passed=True, fails=False):
        def run(ctx, report, deadline):
            seen_at_start[name] = out.read_text()
            report(f"row of {name}")
            if fails:
                raise RuntimeError(f"{name} broke")
            return passed
        return run

    plan = [("a", "Section A", section("a")), ("b", "Section B", section("b", fails=True)),
            ("c", "Section C", section("c", passed=False)), ("d", "Section D", section("d"))]
    results = gc.run_sections(report, plan, ctx=None)
    assert results == {"a": True, "b": False, "c": False, "d": True}
    # a section's lines and its status line are in the file before the next section starts
    assert "row of a" in seen_at_start["b"] and "*Section a: passed" in seen_at_start["b"]
    assert "RuntimeError: b broke" in seen_at_start["c"] and "*Section b: FAILED with the exception above" in seen_at_start["c"]
    text = out.read_text()
    assert "*Section c: FAILED (see above)" in text and "row of d" in text and "*Section d: passed" in text
    assert [line for line in text.splitlines() if line.startswith("#### ")] == [
        "#### Section A", "#### Section B", "#### Section C", "#### Section D"]


def test_a_section_past_its_time_limit_is_stopped_and_the_next_runs(gc, tmp_path):
    out = tmp_path / "check.md"

    def slow(ctx, report, deadline):
        report("first row")
        time.sleep(30)
        report("never written")
        return True

    plan = [("slow", "Slow", slow), ("next", "Next", lambda ctx, report, deadline: True)]
    t0 = time.monotonic()
    results = gc.run_sections(gc.Report(str(out)), plan, ctx=None,
                              limit_for={"slow": 0.5, "next": None}.get)
    assert time.monotonic() - t0 < 10 and results["next"] is True
    assert results["slow"].startswith("stopped at its time limit of 0.5 s")
    text = out.read_text()
    assert "first row" in text and "never written" not in text
    assert "*Section slow: stopped at its time limit of 0.5 s; the lines above are what it finished" in text
    # a budget already spent: the section is reported as not run
    results = gc.run_sections(gc.Report(str(out)), plan[1:], ctx=None, limit_for=lambda name: -1.0)
    assert results == {} and "*Section next: not run, the time budget is spent.*" in out.read_text()


def test_a_subprocess_is_interrupted_at_its_deadline_and_its_output_kept(gc, tmp_path):
    child = ("import time\ntry:\n    for i in range(100):\n        print('line', i, flush=True); time.sleep(0.1)\n"
             "except KeyboardInterrupt:\n    print('interrupted, saving', flush=True); raise SystemExit(130)\n")
    lines = []
    log = tmp_path / "child.log"
    rc, stopped, seconds = gc.run_logged([sys.executable, "-c", child], str(log), dict(os.environ),
                                         deadline=time.monotonic() + 1.0, grace=10, on_line=lines.append)
    assert stopped and rc == 130 and seconds < 8
    assert lines[0] == "line 0" and lines[-1] == "interrupted, saving"  # Ctrl-C first: the child saw it
    assert log.read_text().splitlines() == lines


def test_the_switches_are_checked(gc, capsys):
    for argv, message in ((["--sections", "parity,bogus"], "--sections: must be a comma-separated list of tests, "
                                                           "parity, step, train, got 'parity,bogus'"),
                          (["--smoke", "--limit", "train"], "--limit: must be SECTION=SECONDS"),
                          ([], "--data-dir is required for the train section")):
        with pytest.raises(SystemExit) as info:
            gc.main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err
    assert gc._sections("train,tests") == ["tests", "train"]  # always in the sections' order


def test_smoke_mode_runs_the_chosen_sections_under_the_double_and_writes_them(tmp_path):
    out = tmp_path / "results" / "check.md"
    proc = subprocess.run([sys.executable, "-m", "emsm_np.testing.run_with_double", SCRIPT, "--smoke",
                           "--sections", "step,parity", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = out.read_text()
    headings = [line for line in text.splitlines() if line.startswith("#### ")]
    assert headings == ["#### CPU/GPU parity in float64", "#### One training step against PyTorch"]
    assert "| liunet-mnist | 8 |" in text and "| ok |" in text and "**FAILS**" not in text
    assert "| off | full float32" in text and "| lenet | 8 | on |" in text  # both TF32 modes, the double has neither
    assert text.rstrip().splitlines()[-1].startswith("All sections passed")


def test_the_session_script_parses_its_data_folder_is_ignored_and_the_docs_give_its_call():
    script = os.path.join(ROOT, "benchmarks", "gpu_session.sh")
    assert subprocess.run(["bash", "-n", script], capture_output=True).returncode == 0
    with open(os.path.join(ROOT, ".gitignore")) as f:
        assert "/.gpu_data/" in f.read().splitlines()  # MNIST travels by carry, never committed
    with open(os.path.join(ROOT, "docs", "results", "gpu.md")) as f:
        page = f.read()
    for part in ("### The prepared GPU command", "command: `bash benchmarks/gpu_session.sh`",
                 'carry: `[".gpu_data"]`', "timeout_s: `540`", "cp -r DATA/mnist .gpu_data/"):
        assert part in page
