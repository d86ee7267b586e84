"""``emsm gradcheck`` and ``emsm_np.gradcheck_report.report``: every check passes on correct code, a wrong
backward fails by name (its equation and route), and the switches do what they say."""
import json
import sys

import numpy as np
import pytest

from emsm_np import cli, functional, gpu
from emsm_np.backend import gpu_available
from emsm_np.gradcheck import KINK, SMOOTH
from emsm_np.gradcheck_cases import CHECKS, GROUPS
from emsm_np.gradcheck_report import format_report, report


def run_cli(capsys, *argv):
    """``emsm gradcheck ARGV``: (exit status, stdout, stderr); argparse's refusals exit as the command does."""
    try:
        status = cli.main(["gradcheck", *argv])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def test_emsm_gradcheck_at_its_defaults_passes_every_check_of_every_group_on_both_routes(capsys):
    status, out, err = run_cli(capsys)
    lines = out.strip().splitlines()
    rows = lines[2:-1]
    assert status == 0 and err == ""
    assert len(rows) == len(report()["checks"]) > 40
    assert all(" ok " in row for row in rows)
    assert {row.split()[0] for row in rows} == set(GROUPS)
    assert any("reference" in row for row in rows) and any("fast CPU" in row for row in rows)
    for equation in ("Eq. 4", "Eqs. 5-6", "Eq. 9"):
        assert any(equation in row for row in rows)
    assert lines[-1].startswith(f"{len(rows)} checks: {len(rows)} passed, 0 failed")


def test_the_bounds_are_gradchecks_and_every_kink_is_named():
    assert {c.bound for c in CHECKS} == {SMOOTH, KINK}
    kinked = {c.name for c in CHECKS if c.bound == KINK}
    assert all(any(word in name for word in ("ReLU", "MaxPool", "L1", "Sequential")) for name in kinked)


def test_a_factor_two_in_the_hsic_gradient_fails_eqs_5_6_and_eq_9_by_name(capsys, monkeypatch):
    real = functional.hsic.hsic_diversity_backward
    monkeypatch.setattr(functional.hsic, "hsic_diversity_backward", lambda dD, cache: 2 * real(dD, cache))
    status, out, _ = run_cli(capsys, "--only", "paper")
    failing = [row for row in out.splitlines() if "FAILS" in row]
    assert status == 1
    assert any("Eqs. 5-6" in row and "normalize='column'" in row for row in failing)
    assert any("Eq. 9" in row and "W_v" in row for row in failing)
    assert not any("w.r.t. x" in row or "Eq. 4" in row for row in failing)  # what the factor does not touch
    assert out.strip().splitlines()[-1].split(",")[1].strip().startswith(f"{len(failing)} failed")


def test_a_wrong_fast_route_fails_on_that_route_only(monkeypatch):
    from emsm_np import cpu

    real = cpu.relu.relu_backward
    monkeypatch.setattr(cpu.relu, "relu_backward", lambda dout, cache: 0.5 * real(dout, cache))
    rows = [r for r in report(only="relu")["checks"] if r["name"] == "ReLU"]
    assert {(r["route"], r["passed"]) for r in rows} == {("reference", True), ("fast", False)}


def test_only_selects_groups_routes_equations_and_names():
    def names(only):
        return {(r["name"], r["route"]) for r in report(only=only)["checks"]}

    assert {n for n, _ in names("losses")} == {c.name for c in CHECKS if c.group == "losses"}
    assert all(route == "fast" for _, route in names("fast"))
    assert names("eq9") == names("Eq. 9") == names("9") and len(names("9")) == 3
    assert names("5") == names("6") == names("eqs. 5-6") and len(names("5")) == 4
    assert names("conv2d, 4") == names("conv2d") | names("4")


def test_json_is_the_report_and_the_seed_changes_the_inputs_not_the_verdicts(capsys):
    status, out, _ = run_cli(capsys, "--json", "--only", "layers", "--seed", "3")
    result = json.loads(out)
    assert status == 0 and result["seed"] == 3 and result["failed"] == 0
    assert set(result["checks"][0]) == {"group", "name", "equation", "route", "error", "bound", "passed", "errors"}
    other = report(only="layers", seed=4)
    assert [r["error"] for r in other["checks"]] != [r["error"] for r in result["checks"]]


@pytest.mark.parametrize("argv, says", [
    (["--only", "nothing"], "--only 'nothing' names no check"),
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--device", "tpu"], "--device: invalid choice: 'tpu'"),
])
def test_bad_switches_are_one_line_and_exit_status_2(capsys, argv, says):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == "" and says in err and len(err.strip().splitlines()) == 1


def test_device_gpu_without_a_gpu_is_one_line_and_exit_status_2(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` fails, as where CuPy is not installed
    status, out, err = run_cli(capsys, "--device", "gpu")
    assert status == 2 and out == "" and "a GPU was requested" in err and len(err.strip().splitlines()) == 1


@pytest.mark.gpu
def test_on_the_gpu_every_check_passes_on_both_routes(monkeypatch):
    if not gpu_available():
        from emsm_np.testing import cupy_double

        monkeypatch.setitem(sys.modules, "cupy", cupy_double)
    result = report(device="gpu")
    assert result["failed"] == 0
    assert {r["route"] for r in result["checks"] if r["group"] == "paper"} == {"reference", "fast"}
    assert "fast GPU" in format_report(result)
    real = gpu.hsic.normalize_backward
    monkeypatch.setattr(gpu.hsic, "normalize_backward", lambda g, cache: 2 * real(g, cache))
    failing = {(r["equation"], r["route"]) for r in report(device="gpu", only="paper")["checks"] if not r["passed"]}
    assert ("Eqs. 5-6", "fast") in failing and not any(route == "reference" for _, route in failing)

