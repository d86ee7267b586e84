"""Sphinx configuration of the emsm_np documentation.

Build it with ``docs/build.sh`` (or ``make -C docs html``): that script fetches
MathJax 3 from the npm registry into ``docs/_mathjax/`` (ignored by git) and
runs ``sphinx-build -W --keep-going -b html docs docs/_build/html``. The build
needs no network: MathJax is served from the site itself (``_static/mathjax``),
and nothing here fetches anything (no intersphinx, no remote images).
"""
import ast
import os
import posixpath
import shutil
import sys
from pathlib import Path

from docutils import nodes
from sphinx.errors import ConfigError, ExtensionError

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

# The tutorials read EMSM_FAST to shorten their training runs; set it before
# sphinx-gallery executes them (it runs them in this process).
os.environ["EMSM_FAST"] = "1"
# ... except tutorial 06, whose figures must show networks that learned (about 80 s).
os.environ["EMSM_FULL_TUTORIALS"] = "06"
# sphinx-gallery collects the figures itself: the tutorials save no PNG files.
os.environ["EMSM_FIGURES_DIR"] = ""
os.environ.setdefault("MPLBACKEND", "Agg")

import emsm_np  # noqa: E402

project = "emsm_np"
author = "the emsm_np authors"
copyright = "the emsm_np authors (MIT licence)"
release = emsm_np.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_mathjax",
    "results/*.md",  # benchmark outputs, included by results.md (and its README)
    "tutorials/*.ipynb",
    "tutorials/*.py",
    "tutorials/*.zip",
    "tutorials/*.md5",
    "tutorials/*.pickle",
    "tutorials/*.json",
    "Thumbs.db",
    ".DS_Store",
]

# --- MyST -------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# --- autodoc / napoleon -----------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# The docstrings write "name : shape and meaning"; as plain text, not as :type:
# fields, whose words Sphinx would try to cross-reference.
napoleon_use_param = False
napoleon_use_keyword = False
napoleon_use_ivar = True

# --- sphinx-gallery ---------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../tutorials",
    "gallery_dirs": "tutorials",
    # Every tutorial script is executed (the default pattern runs only plot_*).
    "filename_pattern": r"\.py$",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": True,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "plot_gallery": "True",
    # A failing tutorial fails the build (listed at the end of the run).
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "show_memory": False,
    # No sg_execution_times pages: they load jQuery, Bootstrap and DataTables
    # from CDNs, and the site must not fetch anything.
    "write_computation_times": False,
    "min_reported_time": 0,
}

# --- HTML -------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"emsm_np {release}"
html_static_path = ["_static"]
html_css_files = ["emsm.css"]
html_theme_options = {
    "description": "EM-Softmax in NumPy/CuPy, every gradient derived by hand",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "230px",
    "show_relbars": True,
}
html_show_sourcelink = True
html_copy_source = True

# --- Known docstring defects, repaired for rendering only ---------------------
#
# Three docstrings in the package are not valid reStructuredText/numpydoc: two
# fail the strict build, the third renders as a stray ":raises ...:" line. The
# code is not the docs' to edit, so until the docstrings are fixed at the source,
# these exact passages are rewritten before napoleon reads them (same words,
# valid structure). Once a docstring no longer contains its passage, its entry
# does nothing and can be deleted.
# --- MathJax 3, served from the site itself --------------------------------
MATHJAX_VERSION = "3.2.2"
# build.sh unpacks npm's mathjax@3.2.2 tarball here (es5/, LICENSE, package.json).
MATHJAX_CACHE = Path(os.environ.get("EMSM_MATHJAX_DIR", DOCS / "_mathjax" / f"mathjax-{MATHJAX_VERSION}"))
# Relative to the built site's _static/ (Sphinx resolves a relative mathjax_path there).
mathjax_path = "mathjax/es5/tex-mml-chtml.js"
mathjax3_config = {
    "tex": {"tags": "none"},
    "options": {"processHtmlClass": "tex2jax_process|mathjax_process|math|output_area"},
}
# MathJax finds its components and fonts next to tex-mml-chtml.js (its [mathjax]
# path is taken from the script's own URL), so nothing is loaded from a CDN.


def _copy_mathjax(app, exception):
    """Copy the cached MathJax (es5/ and its LICENSE) into the built site's _static/mathjax.

    Also after a failed build (a tutorial's check failing, a warning under -W): the pages
    it did write then still render their math, instead of showing raw LaTeX."""
    if app.builder.format != "html" or not MATHJAX_CACHE.is_dir():
        return
    dest = Path(app.outdir) / "_static" / "mathjax"
    shutil.copytree(MATHJAX_CACHE / "es5", dest / "es5", dirs_exist_ok=True)
    shutil.copy2(MATHJAX_CACHE / "LICENSE", dest / "LICENSE")
    shutil.copy2(MATHJAX_CACHE / "package.json", dest / "package.json")


def _check_mathjax(app, config):
    if app.builder.format != "html":
        return
    needed = [MATHJAX_CACHE / "es5" / "tex-mml-chtml.js", MATHJAX_CACHE / "LICENSE"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise ConfigError(
            f"MathJax {MATHJAX_VERSION} is not in {MATHJAX_CACHE} (missing: {', '.join(missing)}). "
            "Run docs/build.sh, which fetches it with npm (npm pack mathjax@"
            f"{MATHJAX_VERSION}), or set EMSM_MATHJAX_DIR to an unpacked copy of that package."
        )


# --- {src} role: a link from the prose to the code, checked at build time ---
#
#   {src}`emsm_np/functional/linear.py`                 the module's source page
#   {src}`emsm_np/functional/linear.py::linear_backward`  the function in it
#   {src}`text <emsm_np/functional/linear.py::linear_backward>`
#
# The link goes to the page that sphinx.ext.viewcode renders for the module
# (``_modules/emsm_np/functional/linear.html#linear_backward``). The role fails
# the build if the file does not exist or does not define the name.

def _defined_names(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names.update(f"{node.name}.{m.name}" for m in node.body if isinstance(m, ast.FunctionDef))
    return names


def parse_src_target(target):
    """``"path::name"`` -> ``(path, name or None)``."""
    path, _, name = target.partition("::")
    return path.strip(), (name.strip() or None)


def src_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    from sphinx.util.nodes import split_explicit_title

    has_title, title, target = split_explicit_title(text)
    path, obj = parse_src_target(target)
    problem = None
    file = ROOT / path
    if not (path.startswith("emsm_np/") and path.endswith(".py")):
        problem = f"{{src}} expects a path emsm_np/....py, got {path!r}"
    elif not file.is_file():
        problem = f"{{src}} links to {path}, which does not exist"
    elif obj is not None and obj not in _defined_names(file):
        problem = f"{{src}} links to {obj} in {path}, which does not define it"
    if problem:
        msg = inliner.reporter.error(problem, line=lineno)
        prb = inliner.problematic(rawtext, rawtext, msg)
        return [prb], [msg]
    module = path[: -len(".py")]
    if module.endswith("/__init__"):
        module = module[: -len("/__init__")]
    docname = inliner.document.settings.env.docname
    depth = docname.count("/")
    uri = posixpath.join(*([".."] * depth), "_modules", module + ".html") if depth else f"_modules/{module}.html"
    if obj:
        uri += "#" + obj
    if not has_title:
        title = f"{path}::{obj}" if obj else path
    env = inliner.document.settings.env
    if not hasattr(env, "emsm_src_links"):
        env.emsm_src_links = {}
    env.emsm_src_links.setdefault(docname, set()).add((module + ".html", obj))
    node = nodes.reference(rawtext, "", internal=False, refuri=uri, classes=["src-link"])
    node += nodes.literal(title, title)
    return [node], []


def _check_src_links(app, exception):
    """After the build: every {src} link must land on a viewcode page, at an existing anchor.

    viewcode renders a module's page only if autodoc documented something from it,
    and an anchor only for a documented function or class.
    """
    if exception is not None or app.builder.format != "html":
        return
    problems = []
    for docname, links in sorted(getattr(app.env, "emsm_src_links", {}).items()):
        for page, obj in sorted(links, key=str):
            path = Path(app.outdir) / "_modules" / page
            if not path.is_file():
                problems.append(f"{docname}: no source page _modules/{page} (document the module in api/)")
            elif obj and f'id="{obj}"' not in path.read_text():
                problems.append(f"{docname}: _modules/{page} has no anchor #{obj} (is it documented in api/?)")
    if problems:
        raise ExtensionError("broken {src} links:\n  " + "\n  ".join(problems))


def _forget_src_links(app, env, docname):
    getattr(env, "emsm_src_links", {}).pop(docname, None)


def _merge_src_links(app, env, docnames, other):
    env.emsm_src_links = getattr(env, "emsm_src_links", {})
    env.emsm_src_links.update(getattr(other, "emsm_src_links", {}))


def test_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{test}`tests/test_x.py::test_name``: names the test that checks a derivation.

    Rendered as code (tests are not part of the API pages); the build fails if
    the file or the test function does not exist.
    """
    path, obj = parse_src_target(text)
    file = ROOT / path
    problem = None
    if not (path.startswith("tests/") and path.endswith(".py")):
        problem = f"{{test}} expects a path tests/....py, got {path!r}"
    elif not file.is_file():
        problem = f"{{test}} names {path}, which does not exist"
    elif obj is not None and obj not in _defined_names(file):
        problem = f"{{test}} names {obj} in {path}, which does not define it"
    if problem:
        msg = inliner.reporter.error(problem, line=lineno)
        prb = inliner.problematic(rawtext, rawtext, msg)
        return [prb], [msg]
    shown = f"{path}::{obj}" if obj else path
    return [nodes.literal(rawtext, shown, classes=["test-ref"])], []


# --- Results page: include whatever benchmark outputs docs/results/ holds -----
#
# results.md marks each section's place with ``<!-- results-file: NAME -->``;
# before the page is parsed, that line becomes an {include} of results/NAME.md,
# a {literalinclude} of results/NAME.txt, or a "numbers pending" box.
# ``<!-- results-file: * -->`` includes every other results/*.md.

RESULTS = DOCS / "results"
RESULTS_MARK = "<!-- results-file: "


def results_block(name, named):
    if name == "*":
        others = sorted(p for p in RESULTS.glob("*.md") if p.stem not in named and p.name != "README.md")
        if not others:
            return ""
        parts = ["## Other results", ""]
        for p in others:
            parts += [f"```{{include}} results/{p.name}", "```", ""]
        return "\n".join(parts)
    md, txt = RESULTS / f"{name}.md", RESULTS / f"{name}.txt"
    if md.is_file():
        return f"```{{include}} results/{md.name}\n```\n"
    if txt.is_file():
        return f"Output saved in `docs/results/{txt.name}`:\n\n```{{literalinclude}} results/{txt.name}\n:language: text\n```\n"
    return (
        ":::{admonition} Numbers pending\n:class: warning results-pending\n\n"
        f"No `docs/results/{name}.md` or `docs/results/{name}.txt` yet. The maintainer saves the "
        "benchmark's output there (see `docs/results/README.md`), and the next build shows it here.\n:::\n"
    )


def fill_results(app, docname, source):
    if docname != "results":
        return
    lines = source[0].split("\n")
    named = [ln.strip()[len(RESULTS_MARK):-len("-->")].strip() for ln in lines if ln.strip().startswith(RESULTS_MARK)]
    out = []
    for ln in lines:
        if ln.strip().startswith(RESULTS_MARK):
            out.append(results_block(ln.strip()[len(RESULTS_MARK):-len("-->")].strip(), named))
        else:
            out.append(ln)
    source[0] = "\n".join(out)


def results_always_outdated(app, env, added, changed, removed):
    # A results file added since the last build is no dependency yet: re-read the page.
    return ["results"] if "results" in env.found_docs else []


# --- References to re-exported names -----------------------------------------
#
# The API pages document each object in the module that defines it
# (``emsm_np.layers.linear.Linear``); users and tutorials write the public name
# (``emsm_np.layers.Linear``). Resolve such a reference to the defining module's entry.

def _resolve_reexport(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("emsm_np."):
        return None
    import importlib

    parts = target.split(".")
    obj = None
    for i in range(len(parts) - 1, 0, -1):  # longest importable module prefix
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        break
    modname = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not modname or not qualname or f"{modname}.{qualname}" == target:
        return None
    domain = env.domains["py"]
    new = node.deepcopy()
    new["reftarget"] = f"{modname}.{qualname}"
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], new["reftarget"], new, contnode)


def setup(app):
    app.connect("missing-reference", _resolve_reexport)
    app.connect("source-read", fill_results)
    app.connect("env-get-outdated", results_always_outdated)
    app.add_role("src", src_role)
    app.add_role("test", test_role)
    app.connect("builder-inited", lambda app: _check_mathjax(app, app.config))
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _check_src_links)
    app.connect("env-purge-doc", _forget_src_links)
    app.connect("env-merge-info", _merge_src_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
