"""How sure is a comparison between prod and candidate: intervals, tests, power.

The gates compare two agents on the same requests, so everything here is paired per
request, works from ~30 to ~100,000 rows, and respects clustering: requests from one
user or session are not independent, so the bootstrap can resample whole clusters
(which widens intervals honestly instead of overstating confidence). Alongside: exact
rank/sign/McNemar tests, Wilson intervals, minimum detectable effects, Holm and
Benjamini-Hochberg adjustment, and a machine-independent hash for canary assignment.
Pure functions on numpy arrays; every random draw comes from ``numpy.random.default_rng(seed)``.
"""

from harness.stats.assignment import stable_fraction
from harness.stats.interval import Interval
from harness.stats.multiplicity import benjamini_hochberg, holm
from harness.stats.power import detectable_increase, mde_mean, mde_two_proportions, n_to_settle, power_mean
from harness.stats.resample import (
    bootstrap,
    bootstrap_mean,
    bootstrap_quantile,
    bootstrap_quantile_ratio,
    bootstrap_ratio_of_means,
)
from harness.stats.significance import mcnemar_p, sign_test_p, wilcoxon_p, wilson_interval

__all__ = [
    "Interval",
    "benjamini_hochberg",
    "bootstrap",
    "bootstrap_mean",
    "bootstrap_quantile",
    "bootstrap_quantile_ratio",
    "bootstrap_ratio_of_means",
    "holm",
    "mcnemar_p",
    "mde_mean",
    "mde_two_proportions",
    "detectable_increase",
    "n_to_settle",
    "power_mean",
    "sign_test_p",
    "stable_fraction",
    "wilcoxon_p",
    "wilson_interval",
]
