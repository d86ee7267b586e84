"""The loss tutorials (01-04) run from start to end as plain scripts.

Each tutorial asserts its own numerical checks (gradient relative errors below
1e-7, identities with the library to rounding error), so a broken library makes
its script exit with an error. They run in fast mode (``EMSM_FAST=1``, shorter
training loops) with a non-interactive matplotlib backend, from the repository
root, each in a fresh interpreter.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = [
    "01_softmax_from_scratch.py",
    "02_soft_margin.py",
    "03_hsic_diversity.py",
    "04_ensemble_em_softmax.py",
]


@pytest.mark.parametrize("script", TUTORIALS)
def test_loss_tutorial_runs_as_a_script_and_passes_its_own_checks(script):
    env = dict(os.environ, EMSM_FAST="1", MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tutorials" / script)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, (
        f"{script} exited with {result.returncode}\n"
        f"--- stdout (tail) ---\n{result.stdout[-3000:]}\n--- stderr (tail) ---\n{result.stderr[-3000:]}"
    )
