"""The ``emsm`` command line's rough edges (issue 21, item 4), one test each: every mistake
is one line on stderr naming the switch, what it got and what was expected, with a
documented exit status; ``emsm --help`` loads no heavy module."""
import json
import subprocess
import sys

import pytest

from emsm_np.cli import main


def one_line_error(capsys):
    """stderr of the last command, checked to be one line without a traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --- emsm --help and --version load neither SciPy, nor Matplotlib, nor the reproduce code ---

def test_building_the_parser_imports_no_heavy_module():
    code = ("import sys, emsm_np.cli; emsm_np.cli._parser().format_help(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'matplotlib'}), "
            "'emsm_np.reproduce.runner' in sys.modules, 'emsm_np.training.plots' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "False", "False"]


def test_the_lazy_names_of_emsm_np_reproduce_still_import():
    from emsm_np.reproduce import run_experiment, summarize, welch

    assert callable(run_experiment) and callable(summarize) and callable(welch)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        import emsm_np.reproduce as reproduce

        reproduce.nothing
