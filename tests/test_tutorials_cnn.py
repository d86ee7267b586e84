"""Tutorials 05-07 run to the end as plain scripts (fast mode, no display, no GPU needed)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["05_cnn_by_hand.py", "06_training_mnist.py", "07_gpu_cupy.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_tutorial_script_runs_to_completion_in_fast_mode(script):
    env = dict(os.environ, EMSM_FAST="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tutorials" / script)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, (
        f"tutorials/{script} exited with {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    )
