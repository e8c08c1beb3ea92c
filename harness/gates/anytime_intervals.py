"""The checks' statistics as anytime-valid intervals (harness.anytime), for looks after every wave.

A fixed-sample check bootstraps its interval; a sequential one must hold at every look, so each
statistic maps to a confidence sequence: bounded means and paired differences of scores and
rates by betting (nonasymptotic), means of unbounded values and ratios of means by the
asymptotic sequence, quantiles and quantile ratios by the beta-binomial mixture. A difference
of unbounded values has no sequence here: it raises NoSequence and the check stays undecided.
"""

from __future__ import annotations

import numpy as np

from harness import anytime
from harness.anytime import AnytimeInterval
from harness.metrics import STATISTICS, CheckSpec, metric

__all__ = ["NoSequence", "absolute_sequence", "relative_sequence", "score_bounds"]

#: Scores that live on [-1, 1] (cosine similarities, net win rates); every other score is on [0, 1].
_SIGNED_SCORES = ("similarity", "reference_similarity", "judge_pairwise")


class NoSequence(ValueError):
    """No anytime-valid interval exists here for this statistic (the check stays undecided)."""


def score_bounds(metric_name: str) -> tuple[float, float] | None:
    """The range a metric's values are known to lie in, or None when they are unbounded."""
    unit = metric(metric_name).unit
    if unit == "rate":
        return 0.0, 1.0
    if unit == "score":
        return (-1.0, 1.0) if metric_name in _SIGNED_SCORES else (0.0, 1.0)
    return None


def absolute_sequence(spec: CheckSpec, values: np.ndarray, clusters: np.ndarray | None, alpha: float) -> AnytimeInterval:
    """The candidate's (or one arm's) statistic: a bounded mean, an unbounded mean, or a quantile."""
    q = STATISTICS[spec.statistic].quantile
    if q is not None:
        return anytime.cs_quantile(values, q, clusters, alpha=alpha)
    bounds = score_bounds(spec.metric)
    if bounds is not None:
        return anytime.cs_mean_bounded(values, *bounds, clusters, alpha=alpha)
    if np.any(values < 0):
        raise NoSequence(f"{spec.metric} has negative values: no anytime-valid mean for it")
    return anytime.cs_ratio_of_means(values, np.ones_like(values), clusters, alpha=alpha)


def relative_sequence(spec: CheckSpec, a: np.ndarray, b: np.ndarray, clusters: np.ndarray,
                      alpha: float) -> AnytimeInterval:
    """The paired comparison a relative check makes (a: the arm, b: prod or zeros for net)."""
    statistic = STATISTICS[spec.statistic]
    if statistic.quantile is not None:
        return anytime.cs_quantile_ratio(a, b, statistic.quantile, clusters, alpha=alpha)
    if spec.statistic == "ratio":
        return anytime.cs_ratio_of_means(a, b, clusters, alpha=alpha)
    bounds = score_bounds(spec.metric)
    if bounds is None:
        raise NoSequence(f"a {spec.statistic} of {metric(spec.metric).label} (unbounded values) has no anytime-valid"
                         " interval: use a ratio check")
    if spec.statistic == "net":
        return anytime.cs_mean_bounded(a, *bounds, clusters, alpha=alpha)
    return anytime.cs_paired_diff(a, b, *bounds, clusters, alpha=alpha)
