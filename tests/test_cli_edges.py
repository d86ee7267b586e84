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


# --- a value the parser refuses: one line naming the switch, not the 17-line usage block ---

@pytest.mark.parametrize("argv, line", [
    (["train", "--max-iter", "1e3x"], "--max-iter must be an integer, got '1e3x' (see emsm train --help)"),
    (["train", "--max-iter", "2.5"], "--max-iter must be an integer, got '2.5' (see emsm train --help)"),
    (["train", "--lr", "fast"], "--lr must be a number, got 'fast' (see emsm train --help)"),
    (["train", "--milestones", "3", "x"], "--milestones must be an integer, got 'x' (see emsm train --help)"),
    (["info", "--network", "lenet", "--width", "1.5"], "--width must be an integer, got '1.5' (see emsm info --help)"),
    (["reproduce", "table1", "--seeds", "two"], "--seeds must be an integer, got 'two' (see emsm reproduce --help)"),
    (["train", "--bogus", "3"], "unrecognized arguments: --bogus 3 (see emsm train --help)"),
    (["train", "--max-iter"], "--max-iter: expected one argument (see emsm train --help)"),
])
def test_a_value_the_parser_refuses_is_one_line_naming_the_switch(argv, line, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert one_line_error(capsys) == f"emsm: error: {line}\n"


def test_a_whole_number_written_as_a_float_is_an_integer():
    from emsm_np.cli import _parser

    assert _parser().parse_args(["train", "--max-iter", "1e3", "--seed", "2.0"]).max_iter == 1000
