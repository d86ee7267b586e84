"""One command per table or figure of the paper: ``emsm reproduce EXPERIMENT``.

Experiments: ``table1`` (Softmax / M- / E- / EM-Softmax), ``fig1`` (accuracy vs
lambda at V = 2), ``fig2`` (accuracy vs V at lambda = 0.1), ``table4`` (dropout on
the feature layer) and ``margin`` (m chosen on a held-out validation split of the
training set). Presets ``smoke`` (seconds), ``cpu`` (lenet on MNIST, hours on two
cores) and ``gpu`` (the paper's networks and recipe). Each writes a results folder
with a table of mean +- std, a 95 % confidence interval and Welch's t-test against
the reference row, beside the paper's numbers.

Its modules::

    experiments  presets, the settings of each experiment, where the paper's number comes from
    paper        the paper's numbers, copied from its text
    runner       run_experiment: trains, resumes or skips each (data set, setting, seed)
    stats        mean, std, t interval, Welch's t-test
    report       results.md, results.json, runs.csv
    figure       the PNG of Figs. 1 and 2

``run_experiment``, ``summarize`` and ``welch`` are imported on first use (PEP 562),
so that ``emsm --help``, which lists the experiments, does not load SciPy and the
training code.
"""
import importlib

from .experiments import EXPERIMENTS, PRESETS, settings

_LAZY = {"run_experiment": ".runner", "summarize": ".stats", "welch": ".stats"}

__all__ = ["EXPERIMENTS", "PRESETS", "run_experiment", "settings", "summarize", "welch"]


def __getattr__(name):
    """``run_experiment``, ``summarize``, ``welch``: imported from their module when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value
