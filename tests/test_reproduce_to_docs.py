"""scripts/reproduce_to_docs.py: a reproduce results folder into a docs/results include."""
import pathlib
import runpy
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _script():
    return types.SimpleNamespace(**runpy.run_path(str(ROOT / "scripts" / "reproduce_to_docs.py")))


def test_demote_moves_headings_two_levels_and_leaves_code_alone():
    text = "# Title\n\n## mnist\n\n```bash\n# a comment\n```\n#not a heading\n"
    assert _script().demote(text) == "### Title\n\n#### mnist\n\n```bash\n# a comment\n```\n#not a heading\n"


def test_copies_results_and_figure_into_the_docs(tmp_path):
    run = tmp_path / "fig2-cpu"
    run.mkdir()
    (run / "results.md").write_text("# Fig. 2 (cpu preset)\n\nCommand: `x`\n\n## mnist\n\n| a |\n|---|\n| 1 |\n\n"
                                    "![Fig. 2](fig2.png)\n")
    (run / "fig2.png").write_bytes(b"\x89PNG fake")
    docs = tmp_path / "docs"
    (docs / "results").mkdir(parents=True)
    (docs / "_static").mkdir()
    assert _script().main([str(run), "fig2_cpu", "--docs", str(docs), "--note", "beside other work"]) == 0
    out = (docs / "results" / "fig2_cpu.md").read_text()
    lines = out.split("\n")
    assert lines[0] == "### Fig. 2 (cpu preset)"
    assert lines[2].startswith("Machine: ") and lines[2].endswith("; beside other work.")
    assert "#### mnist" in out and "\n# " not in out and "\n## " not in out
    assert "](/_static/fig2_cpu.png)" in out
    assert (docs / "_static" / "fig2_cpu.png").read_bytes() == b"\x89PNG fake"


def test_a_folder_without_results_is_refused_naming_the_argument(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _script().main([str(tmp_path), "x", "--docs", str(tmp_path)])
    assert exc.value.code == 2
    assert "folder: no results.md" in capsys.readouterr().err
