"""Adjusting p-values for many comparisons: Holm (family-wise) and Benjamini-Hochberg (FDR)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def _pvalue_array(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    finite = p[~np.isnan(p)]
    if np.any((finite < 0) | (finite > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values in the original order (as statsmodels 'holm').

    NaN p-values stay NaN and do not count towards the number of tests.
    """
    return _adjusted(pvalues, lambda ordered, m: np.maximum.accumulate((m - np.arange(m)) * ordered))


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg (FDR) adjusted p-values in the original order (as statsmodels 'fdr_bh').

    NaN p-values stay NaN and do not count towards the number of tests.
    """
    return _adjusted(
        pvalues, lambda ordered, m: np.minimum.accumulate((ordered * m / np.arange(1, m + 1))[::-1])[::-1]
    )


def _adjusted(pvalues: Sequence[float] | np.ndarray, step: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """Apply a step procedure to the sorted finite p-values; NaN stays NaN, results clipped to 1."""
    p = _pvalue_array(pvalues)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    if idx.size == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    out[order] = np.minimum(step(p[order], idx.size), 1.0)
    return out
