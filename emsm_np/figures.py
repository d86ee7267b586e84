"""Figures of the tutorials: shown where a screen or the docs can show them, saved as PNG files.

A tutorial run from a terminal (``python tutorials/06_training_mnist.py``) on a
machine without a display would otherwise compute its figures and lose them:
:func:`show` saves each one as ``<name>.png`` in ``$EMSM_FIGURES_DIR`` (default:
``tutorial_figures/`` in the current directory) and prints the path, then
shows it if matplotlib's backend can. The docs build sets ``EMSM_FIGURES_DIR``
to an empty string (no files: sphinx-gallery collects the figures itself).
"""
import os

FIGURES_DIR = "EMSM_FIGURES_DIR"


def show(fig, name):
    """Save ``fig`` as ``<figures dir>/<name>.png`` (and say where), then show it on screen if possible.

    Parameters
    ----------
    fig : matplotlib Figure
    name : file name without extension, e.g. ``"06_learning_curves"``

    Returns the path written, or None when saving is switched off.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    directory = os.environ.get(FIGURES_DIR, "tutorial_figures")
    path = None
    if directory:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{name}.png")
        fig.savefig(path, dpi=100)
        print(f"(figure saved to {path})")
    if matplotlib.get_backend().lower() != "agg":  # a screen, a notebook or the docs build
        plt.show()
    return path
