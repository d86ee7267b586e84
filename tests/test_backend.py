"""Backend: the array module follows the inputs; asking for a missing GPU is an error."""
import numpy as np
import pytest

from emsm_np import backend
from emsm_np.layers import Linear

NO_GPU = not backend.gpu_available()


def test_numpy_arrays_select_numpy():
    assert backend.get_array_module(np.zeros(2), None, 3.0) is np
    assert backend.device_of(np.zeros(2)) == "cpu"


def test_asnumpy_and_to_device_cpu_return_numpy_arrays():
    a = np.arange(3.0)
    assert backend.asnumpy(a) is a
    np.testing.assert_array_equal(backend.to_device([1, 2], "cpu"), np.array([1, 2]))


def test_to_device_rejects_unknown_devices():
    with pytest.raises(ValueError, match=r"device must be 'cpu' or 'gpu', got 'tpu'"):
        backend.to_device(np.zeros(2), "tpu")
    with pytest.raises(ValueError, match=r"device must be 'cpu' or 'gpu', got 'cuda'"):
        Linear(2, 3).to("cuda")


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU: the no-GPU error cannot be shown")
def test_asking_for_a_gpu_without_one_is_an_error_not_a_cpu_fallback():
    with pytest.raises(backend.GPUUnavailableError, match="a GPU was requested"):
        backend.get_cupy()
    with pytest.raises(backend.GPUUnavailableError, match="a GPU was requested"):
        backend.to_device(np.zeros(2), "gpu")
    layer = Linear(2, 3)
    with pytest.raises(backend.GPUUnavailableError, match="a GPU was requested"):
        layer.to("gpu")
    assert isinstance(layer.params["weight"], np.ndarray)  # untouched


def test_gpu_available_is_a_bool_and_importing_the_package_does_not_import_cupy():
    import subprocess
    import sys

    code = "import sys, emsm_np, emsm_np.layers, emsm_np.losses; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert isinstance(backend.gpu_available(), bool)


def test_layers_move_to_gpu_and_back(xp):
    """On a GPU: a layer moved there computes with CuPy, and comes back unchanged."""
    if xp is np:
        pytest.skip("the round trip needs a GPU; the numpy variant has nothing to move")
    layer = Linear(3, 2, dtype=np.float64, rng=0)
    w = layer.params["weight"].copy()
    layer.to("gpu")
    assert backend.device_of(layer.params["weight"]) == "gpu"
    y = layer.forward(xp.ones((4, 3)))
    assert backend.device_of(y) == "gpu"
    layer.to("cpu")
    np.testing.assert_array_equal(layer.params["weight"], w)


RUNTIME_IMPORTS = """
import importlib, json, pkgutil, sys
import emsm_np

def walk(path, prefix):
    for info in pkgutil.iter_modules(path, prefix):
        if info.name != "emsm_np.testing":
            module = importlib.import_module(info.name)
            if info.ispkg:
                walk(module.__path__, info.name + ".")

walk(emsm_np.__path__, "emsm_np.")
from emsm_np import backend, cli
backend.gpu_available()
print(json.dumps({"testing": sorted(n for n in sys.modules if n.startswith("emsm_np.testing")),
                  "cupy": getattr(sys.modules.get("cupy"), "__name__", None), "imported": len(sys.modules)}))
"""


def test_the_runtime_imports_no_test_code_even_with_the_double_switched_on():
    """Every module of emsm_np but emsm_np.testing, the CLI among them, imported with EMSM_CUPY_DOUBLE=1
    and asked for a GPU: nothing of emsm_np.testing is imported, and cupy is not the double (the switch
    is the tests' and emsm_np.testing.run_with_double's, never the runtime's)."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, EMSM_CUPY_DOUBLE="1")
    out = subprocess.run([sys.executable, "-c", RUNTIME_IMPORTS], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["testing"] == [] and seen["cupy"] != "emsm_np.testing.cupy_double", seen


def test_no_runtime_module_names_the_test_helpers_or_their_switch():
    """The same, read from the source: outside emsm_np/testing/, no module imports emsm_np.testing
    (absolutely or relatively) or mentions EMSM_CUPY_DOUBLE."""
    import ast
    from pathlib import Path

    package = Path(backend.__file__).resolve().parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent)
        if relative.parts[1] == "testing":
            continue
        source = path.read_text()
        if "EMSM_CUPY_DOUBLE" in source:
            offenders.append(f"{relative}: mentions EMSM_CUPY_DOUBLE")
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = list(relative.with_suffix("").parts)[:-node.level]
                    base = ".".join(parent + ([base] if base else []))
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            if any(n == "emsm_np.testing" or n.startswith("emsm_np.testing.") for n in names):
                offenders.append(f"{relative}:{node.lineno}: imports emsm_np.testing")
    assert offenders == []
