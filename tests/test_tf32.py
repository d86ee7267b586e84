"""The TF32 switch (issue 23, item 4): ``emsm train/evaluate --tf32`` and ``emsm_np.backend.set_tf32``.

CuPy reads ``CUPY_TF32`` once, at its first float32 matrix product; ``set_tf32`` sets the
variable and, where CuPy is imported, CuPy's compute type itself. On the CPU (NumPy) there is no
TF32, and ``--tf32`` there is refused with a message that names the switch.
"""
import os

import pytest

from emsm_np import backend
from emsm_np.cli import main


@pytest.fixture
def tf32_env(monkeypatch):
    """CUPY_TF32 as the test leaves it is undone afterwards (set_tf32 writes os.environ)."""
    monkeypatch.delenv("CUPY_TF32", raising=False)
    yield monkeypatch
    if backend._cupy_linalg() is not None:  # real CuPy: its compute type back to CuPy's default
        backend.set_tf32(False)


def test_set_tf32_sets_the_variable_cupy_reads_and_tf32_enabled_follows_it(tf32_env):
    assert backend.tf32_enabled() is False  # CuPy's default: full float32
    backend.set_tf32(True)
    assert os.environ["CUPY_TF32"] == "1" and backend.tf32_enabled() is True
    backend.set_tf32(False)
    assert os.environ["CUPY_TF32"] == "0" and backend.tf32_enabled() is False
    with pytest.raises(TypeError, match="enabled must be True or False, got 'yes'"):
        backend.set_tf32("yes")


def test_tf32_enabled_reads_cupy_tf32_as_cupy_does(tf32_env):
    if backend._cupy_linalg() is not None:
        pytest.skip("real CuPy is imported: its own setting, not the variable, answers")
    tf32_env.setenv("CUPY_TF32", "2")  # CuPy: int(CUPY_TF32) > 0
    assert backend.tf32_enabled() is True
    tf32_env.setenv("CUPY_TF32", "yes")
    with pytest.raises(ValueError, match="CUPY_TF32 must be an integer"):
        backend.tf32_enabled()


@pytest.mark.parametrize("argv, message", [
    (["train", "--tf32", "--max-iter", "2"], "--tf32 applies to --device gpu only .* got --device cpu"),
    (["train", "--tf32", "--device", "gpu", "--dtype", "float64", "--max-iter", "2"],
     "--tf32 applies to float32 only .* got --dtype float64"),
])
def test_tf32_where_it_cannot_act_is_refused_naming_the_switch(tf32_env, tmp_path, capsys, argv, message):
    import re

    rc = main(argv + ["--run-dir", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert not (tmp_path / "run").exists()  # refused before anything was made
    assert "CUPY_TF32" not in os.environ


def test_no_tf32_on_the_cpu_is_accepted_and_evaluate_refuses_tf32_on_the_cpu(tf32_env, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--no-tf32", "--max-iter", "2", "--eval-every", "2", "--run-dir", str(run), "--no-progress"])
    assert rc == 0 and "TF32" not in capsys.readouterr().out  # the CPU computes in full float32 anyway
    rc = main(["evaluate", str(run), "--tf32"])
    assert rc == 2 and "--tf32 applies to --device gpu only" in capsys.readouterr().err


@pytest.mark.gpu
def test_tf32_on_the_gpu_says_so_and_no_tf32_overrides_the_environment(gpu_xp, tf32_env, tmp_path, capsys):
    try:
        if int(gpu_xp.cuda.Device().compute_capability) < 80:
            pytest.skip("TF32 needs compute capability 8.0 (Ampere) or more; CuPy uses full float32 below")
    except (AttributeError, NotImplementedError):  # the CuPy double: no compute capability to ask
        pass
    rc = main(["train", "--device", "gpu", "--tf32", "--max-iter", "2", "--eval-every", "2",
               "--run-dir", str(tmp_path / "a"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "TF32: the GPU's float32 matrix products round their inputs" in out and "(--tf32)" in out
    assert backend.tf32_enabled() is True
    tf32_env.setenv("CUPY_TF32", "1")
    rc = main(["train", "--device", "gpu", "--no-tf32", "--max-iter", "2", "--eval-every", "2",
               "--run-dir", str(tmp_path / "b"), "--no-progress"])
    assert rc == 0 and "TF32" not in capsys.readouterr().out
    assert backend.tf32_enabled() is False and os.environ["CUPY_TF32"] == "0"
