"""Write emsm_np/testing/cupy_names.json: the names the real CuPy offers.

The CuPy double (:mod:`emsm_np.testing.cupy_double`) exposes a name only if CuPy
has it, so that emsm_np code calling something CuPy lacks fails on a CPU-only
machine as it would on the GPU. This script reads those names from an installed
CuPy. ``import cupy`` works without a GPU or the CUDA libraries, so any machine
can run it::

    pip install --target /tmp/cupyx cupy-cuda12x==14.2.0 'cuda-pathfinder>=1.3.4,<2'
    PYTHONPATH=/tmp/cupyx python scripts/cupy_names.py

(``--no-deps`` keeps pip from replacing NumPy; cuda-pathfinder is the one
dependency ``import cupy`` needs.) The CUDA 12 and CUDA 13 wheels of one CuPy
release share their Python-level names.

What counts as a name: the public attributes (no leading underscore) of each
namespace, less two kinds of import leftovers that are not CuPy's API: the
``annotations`` feature of ``from __future__ import annotations`` and modules
from outside CuPy (``cupy.lib.stride_tricks.np`` is NumPy). Names that CuPy
loads lazily through a module ``__getattr__`` (``cupy.random.Generator``,
``cupy.cuda.curand``) are looked up in that function's source and added.
"""
import __future__

import argparse
import importlib.metadata
import inspect
import json
import pathlib
import sys
import types

OUTPUT = pathlib.Path(__file__).resolve().parent.parent / "emsm_np" / "testing" / "cupy_names.json"

# Loaded on first access by cupy.cuda.__getattr__ (cupy/cuda/__init__.py); some
# of them need the CUDA libraries, so they are checked in the source, not imported.
LAZY_CUDA_MODULES = ("cublas", "cufft", "curand", "cusolver", "cusparse", "jitify")


def public_names(namespace):
    """Sorted public names of a module or class, without import leftovers."""
    names = []
    for name in dir(namespace):
        if name.startswith("_"):
            continue
        value = inspect.getattr_static(namespace, name, None)
        if isinstance(value, __future__._Feature):
            continue  # from __future__ import annotations
        if isinstance(value, types.ModuleType) and not value.__name__.startswith(("cupy", "cupy_backends")):
            continue  # e.g. cupy.lib.stride_tricks.np is NumPy
        names.append(name)
    return sorted(names)


def dunder_names(cls):
    return sorted(n for n in dir(cls) if n.startswith("__") and n.endswith("__"))


def lazy_cuda_names(cuda):
    source = inspect.getsource(cuda.__getattr__)
    found = [name for name in LAZY_CUDA_MODULES if f"key == '{name}'" in source]
    missing = sorted(set(LAZY_CUDA_MODULES) - set(found))
    if missing:
        sys.exit(f"cupy.cuda.__getattr__ no longer loads {missing}: update LAZY_CUDA_MODULES")
    return found


def distribution_of(module):
    for dist in importlib.metadata.distributions():
        if (dist.metadata["Name"] or "").lower().startswith("cupy"):
            top = (dist.read_text("top_level.txt") or "").split()
            files = dist.files or []
            if "cupy" in top or any(str(f).startswith("cupy/") for f in files):
                return f"{dist.metadata['Name']}=={dist.version}"
    return f"cupy=={module.__version__}"


def collect():
    import cupy
    import cupy.lib.stride_tricks
    import cupy.random

    cupy.random.Generator  # noqa: B018 - loaded lazily by cupy.random.__getattr__
    return {
        "cupy_version": cupy.__version__,
        "cupy_distribution": distribution_of(cupy),
        "generated_by": "scripts/cupy_names.py",
        "module": public_names(cupy),
        "random": public_names(cupy.random),
        "random.RandomState": public_names(cupy.random.RandomState),
        "random.Generator": public_names(cupy.random.Generator),
        "lib": public_names(cupy.lib),
        "lib.stride_tricks": public_names(cupy.lib.stride_tricks),
        "ndarray": public_names(cupy.ndarray),
        "ndarray.dunder": dunder_names(cupy.ndarray),
        "cuda": sorted(set(public_names(cupy.cuda)) | set(lazy_cuda_names(cupy.cuda))),
        "cuda.runtime": public_names(cupy.cuda.runtime),
        "cuda.Device": public_names(cupy.cuda.Device),
        "cuda.Stream": public_names(cupy.cuda.Stream),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=pathlib.Path, default=OUTPUT, help=f"default: {OUTPUT}")
    args = parser.parse_args(argv)
    try:
        names = collect()
    except ImportError as exc:
        sys.exit(f"cannot import cupy ({exc}); see this script's docstring for a GPU-free install")
    args.output.write_text(json.dumps(names, indent=1) + "\n")
    sizes = ", ".join(f"{k}: {len(v)}" for k, v in names.items() if isinstance(v, list))
    print(f"wrote {args.output} (CuPy {names['cupy_version']}, {names['cupy_distribution']}; {sizes})")


if __name__ == "__main__":
    main()
