"""Run a command, a script or a module with the CuPy double installed as ``cupy``.

::

    python -m emsm_np.testing.run_with_double emsm train --device gpu --max-iter 6
    python -m emsm_np.testing.run_with_double benchmarks/gpu_check.py --smoke --out /tmp/gc.md
    python -m emsm_np.testing.run_with_double -m emsm_np.cli evaluate RUN_DIR --device gpu

installs :mod:`emsm_np.testing.cupy_double` (NumPy under CuPy's rules, counting
device-to-host transfers; see :mod:`emsm_np.testing`), says so on stderr, then
runs the rest of the line in this process as Python would: ``SCRIPT.py ARGS``
as ``python SCRIPT.py ARGS``, ``-m MODULE ARGS`` as ``python -m MODULE ARGS``,
and ``COMMAND ARGS`` for a command that an installed package declares (a
console script, such as ``emsm``). It also sets ``EMSM_CUPY_DOUBLE=1``, so that
a pytest the command starts (as ``benchmarks/gpu_check.py`` does) installs the
double too (``tests/conftest.py``); any other Python process it starts gets
real CuPy, or none.
"""
import os
import runpy
import sys
from importlib.metadata import entry_points

from . import install_double

USAGE = "usage: python -m emsm_np.testing.run_with_double (SCRIPT.py | -m MODULE | COMMAND) [ARG ...]"


def _console_script(name):
    scripts = entry_points()
    scripts = scripts.select(group="console_scripts") if hasattr(scripts, "select") else \
        scripts.get("console_scripts", ())  # Python 3.9
    found = [ep for ep in scripts if ep.name == name]
    return found[0] if found else None


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv == ["-m"]:
        print(f"{USAGE}\n\n{__doc__.splitlines()[0]}", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    if argv[0] == "-m":
        install_double(announce=True)
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    if argv[0].endswith(".py") or os.path.isfile(argv[0]):
        install_double(announce=True)
        sys.argv = argv
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))  # as `python SCRIPT.py` has it
        runpy.run_path(argv[0], run_name="__main__")
        return 0
    command = _console_script(argv[0])
    if command is None:
        print(f"{USAGE}\n{argv[0]!r} is not a file, nor a command that an installed package declares",
              file=sys.stderr)
        return 2
    install_double(announce=True)
    sys.argv = argv
    return command.load()()


if __name__ == "__main__":
    sys.exit(main())
