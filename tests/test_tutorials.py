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

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted(p.name for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_all_eight_tutorials_are_found():
    assert len(TUTORIALS) == 8, TUTORIALS


# The figures each tutorial saves when run from a terminal (emsm_np.figures.show).
FIGURES = {"02": 3, "03": 1, "04": 1, "05": 1, "06": 2, "08": 3}


@pytest.mark.parametrize("script", TUTORIALS)
def test_tutorial_runs_as_a_script_and_passes_its_own_checks(script, tmp_path):
    env = dict(os.environ, EMSM_FAST="1", MPLBACKEND="Agg", EMSM_FIGURES_DIR=str(tmp_path))
    env.pop("EMSM_FULL_TUTORIALS", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tutorials" / script)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, (
        f"tutorials/{script} exited with {proc.returncode}\n"
        f"--- stdout (tail) ---\n{proc.stdout[-4000:]}\n--- stderr (tail) ---\n{proc.stderr[-4000:]}"
    )

    saved = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(saved) == FIGURES.get(script[:2], 0), saved
    assert all(name.startswith(script[:2] + "_") for name in saved)
    assert all(f"(figure saved to {tmp_path / name})" in proc.stdout for name in saved)
