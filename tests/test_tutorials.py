"""Every tutorial runs from start to end as a plain script.

Each tutorial asserts its own numerical checks (gradient relative errors below
the bounds, identities with the library to rounding error), so a broken
library makes its script exit with an error. They run in fast mode
(``EMSM_FAST=1``) with a non-interactive matplotlib backend, from the
repository root, each in a fresh interpreter; no display and no GPU needed.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted(p.name for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_all_seven_tutorials_are_found():
    assert len(TUTORIALS) == 7, TUTORIALS


@pytest.mark.parametrize("script", TUTORIALS)
def test_tutorial_runs_as_a_script_and_passes_its_own_checks(script):
    env = dict(os.environ, EMSM_FAST="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tutorials" / script)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, (
        f"tutorials/{script} exited with {proc.returncode}\n"
        f"--- stdout (tail) ---\n{proc.stdout[-4000:]}\n--- stderr (tail) ---\n{proc.stderr[-4000:]}"
    )
