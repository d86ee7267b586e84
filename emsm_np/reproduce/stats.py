"""Mean, spread and a 95 % confidence interval over seeds; Welch's t-test between two settings.

The interval is the t interval, ``mean +- t(0.975, n-1) * std / sqrt(n)`` with the
sample standard deviation (ddof 1): with 5 seeds t = 2.776, so the interval is
about 1.24 standard deviations wide on each side. Welch's test does not assume the
two settings have the same variance (scipy.stats.ttest_ind, equal_var=False).
With one seed there is no spread, no interval and no test: those are None.
"""
import math
from collections import namedtuple

import numpy as np
from scipy import stats

Summary = namedtuple("Summary", ["n", "mean", "std", "ci_low", "ci_high"])


def summarize(values, confidence=0.95):
    """:class:`Summary` of ``values`` (a list of floats; n may be 0 or 1: then None where undefined)."""
    a = np.asarray(values, dtype=np.float64)
    n = len(a)
    if n == 0:
        return Summary(0, None, None, None, None)
    mean = float(a.mean())
    if n == 1:
        return Summary(1, mean, None, None, None)
    std = float(a.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def welch(a, b):
    """``(t, p)`` of Welch's two-sided t-test of ``a`` against ``b``, or None where it is undefined
    (fewer than 2 values on a side, or no spread on either side: every seed gave the same number)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return None
    res = stats.ttest_ind(a, b, equal_var=False)
    return float(res.statistic), float(res.pvalue)
