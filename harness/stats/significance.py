"""Exact paired tests (Wilcoxon, sign, McNemar) and the Wilson interval of a rate."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

from harness.stats.interval import Interval, _as_float, _check_alternative, _check_level, _nan_interval


def wilcoxon_p(diffs: np.ndarray, alternative: str = "two-sided") -> float:
    """Wilcoxon signed-rank p-value on the non-zero, non-NaN paired differences.

    Zeros are dropped beforehand (Wilcoxon's original "wilcox" handling); scipy picks exact or normal.
    """
    _check_alternative(alternative)
    d = _as_float(diffs, "diffs")
    d = d[~np.isnan(d) & (d != 0)]
    if d.size == 0:
        return 1.0
    return float(_st.wilcoxon(d, alternative=alternative).pvalue)


def sign_test_p(diffs: np.ndarray, alternative: str = "two-sided") -> float:
    """Exact sign test: binomial test of positive vs negative among non-zero, non-NaN differences."""
    _check_alternative(alternative)
    d = _as_float(diffs, "diffs")
    d = d[~np.isnan(d) & (d != 0)]
    if d.size == 0:
        return 1.0
    return float(_st.binomtest(int((d > 0).sum()), int(d.size), 0.5, alternative=alternative).pvalue)


def mcnemar_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> float:
    """Exact McNemar test on paired binary outcomes: binomial test on the discordant pairs.

    "greater" means ``a`` is True more often than ``b``; float rows with NaN are dropped.
    """
    _check_alternative(alternative)
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1:
        raise ValueError(f"a and b must be 1-D of equal length, got {a_arr.shape} and {b_arr.shape}")
    if np.issubdtype(a_arr.dtype, np.floating) or np.issubdtype(b_arr.dtype, np.floating):
        keep = ~(np.isnan(a_arr.astype(float)) | np.isnan(b_arr.astype(float)))
        a_arr, b_arr = a_arr[keep], b_arr[keep]
    a_arr, b_arr = a_arr.astype(bool), b_arr.astype(bool)
    only_a = int((a_arr & ~b_arr).sum())
    only_b = int((~a_arr & b_arr).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(_st.binomtest(only_a, only_a + only_b, 0.5, alternative=alternative).pvalue)


def wilson_interval(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval for a proportion; estimate k/n, NaN interval when n == 0."""
    _check_level(level)
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return _nan_interval(level)
    p = successes / n
    z = float(_st.norm.ppf(0.5 + level / 2))
    z2n = z * z / n
    center = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    # At k = 0 and k = n the bounds are exactly 0 and 1; do not leave float dust there.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return Interval(p, low, high, level)
