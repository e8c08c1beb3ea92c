"""Canary planning: who gets the candidate at each rollout step, and what each step can detect.

Users are assigned by a stable hash of their user_id (sha256 of "salt:user_id", see
harness.stats.stable_fraction): the same user always gets the same variant, on any machine,
and the cohorts are nested (a user in the 5% canary stays in at 20%). Requests without a
user_id count as their own unit. From the captured log's traffic rate, each step's requests
over the step's duration give the minimum detectable effect (MDE) on error rate and quality
at the configured confidence and power; the error-rate MDE is exact (binomial), so a 0% baseline
and a handful of requests give an honest, large number, and such a step says it is too small.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from harness import stats
from harness.config import CanaryConfig, GatesConfig
from harness.errors import HarnessError
from harness.store import Store

__all__ = ["CanaryStep", "CanaryPlan", "plan_canary", "DEFAULT_ERROR_RATE", "DEFAULT_QUALITY_SD",
           "USEFUL_ERROR_INCREASE", "MIN_USEFUL_REQUESTS"]

DEFAULT_ERROR_RATE = 0.02
DEFAULT_QUALITY_SD = 0.15
USEFUL_ERROR_INCREASE = 0.10
"""A step that cannot see an error-rate rise of 10 points is too small to catch a useful regression."""
MIN_USEFUL_REQUESTS = 10


@dataclass(frozen=True)
class CanaryStep:
    percent: float
    users: int
    user_share: float
    traffic_share: float
    requests: int
    """Expected canary requests over the step's duration at the log's traffic rate, rounded."""
    mde_error_rate: float
    """Detectable rise of the error rate: exact binomial against the baseline, never below the two-proportion
    normal approximation with the control's size (honest at 0 events and small counts)."""
    mde_quality: float
    too_small: str | None = None
    """Why this step cannot detect anything useful, when it cannot."""


@dataclass(frozen=True)
class CanaryPlan:
    dataset: str
    steps: list[CanaryStep]
    duration_h: float
    requests_per_hour: float
    baseline_error_rate: float
    error_rate_source: str
    quality_sd: float
    quality_source: str
    units: int
    units_without_user: int
    confidence: float
    power: float


def plan_canary(store: Store, dataset: str, canary: CanaryConfig, gates: GatesConfig,
                run_id: str | None = None) -> CanaryPlan:
    """Per step: the share of users and of traffic in the canary and the effects it can detect.

    The baseline error rate comes from the run's prod arm (or the log's captured prod outputs,
    else 2%); the quality spread from the run's prod quality scores (else 0.15)."""
    units = store.canary_inputs(dataset)
    if units.is_empty():
        raise HarnessError(f"dataset {dataset!r} has no requests")
    ids = units["unit"].to_list()
    requests = units["requests"].to_numpy()
    fractions = np.array([stats.stable_fraction(u, canary.salt) for u in ids])
    total = float(requests.sum())
    first, last = units["first_seen"].min(), units["last_seen"].max()
    span = last - first if isinstance(first, datetime) and isinstance(last, datetime) else None
    hours = span.total_seconds() / 3600 if span is not None else 0.0
    rate = (total / hours if hours > 0 else total / 24.0) / canary.log_sample_rate
    error_rate, error_source = _baseline_error(store, dataset, run_id)
    quality_sd, quality_source = _quality_sd(store, run_id)
    expected = rate * canary.duration_h
    steps = []
    for percent in sorted(canary.steps):
        chosen = fractions < percent / 100
        share = float(requests[chosen].sum()) / total
        n_canary, n_rest = round(expected * share), round(expected * (1 - share))
        # At 100% there is no control group left in the same window: compare with the baseline instead.
        n_control = n_rest if n_rest >= 1 else round(expected)
        mde_error = max(stats.detectable_increase(error_rate, n_canary, alpha=gates.alpha, power=gates.power),
                        stats.mde_two_proportions(error_rate, n_canary, n_control, alpha=gates.alpha, power=gates.power))
        steps.append(CanaryStep(
            percent=percent, users=int(chosen.sum()), user_share=float(chosen.mean()), traffic_share=share,
            requests=n_canary, mde_error_rate=mde_error,
            mde_quality=_mde_two_means(quality_sd, n_canary, n_control, gates.alpha, gates.power),
            too_small=_too_small(n_canary, mde_error),
        ))  # fmt: skip
    return CanaryPlan(dataset, steps, canary.duration_h, rate, error_rate, error_source, quality_sd, quality_source,
                      len(ids), int((~units["is_user"]).sum()), 1 - gates.alpha, gates.power)


def _too_small(n: int, mde_error: float) -> str | None:
    """Why a step of `n` canary requests cannot detect a useful rise of the error rate, if it cannot."""
    if n < MIN_USEFUL_REQUESTS:
        return f"only {n:,} canary requests: too few to detect anything"
    if mde_error > USEFUL_ERROR_INCREASE:
        return (f"only an error-rate rise of more than {100 * USEFUL_ERROR_INCREASE:g} points is detectable: too"
                " small to catch a useful regression (run it longer or larger)")
    return None


def _mde_two_means(sd: float, n1: float, n2: float, alpha: float, power: float) -> float:
    """(z_{1-alpha/2} + z_power) * sd * sqrt(1/n1 + 1/n2); inf without observations."""
    if n1 < 1 or n2 < 1:
        return float("inf")
    one = stats.mde_mean(sd, 2, alpha=alpha, power=power) * np.sqrt(2)  # (z_a + z_b) * sd
    return float(one * np.sqrt(1 / n1 + 1 / n2))


def _baseline_error(store: Store, dataset: str, run_id: str | None) -> tuple[float, str]:
    if run_id is not None:
        summary = store.arm_summary(run_id).filter(pl.col("arm") == "prod")
        if summary.height:
            return float(summary["error_rate"][0]), f"prod in run {run_id}"
    rate, n = store.captured_error_rate(dataset)
    if rate is not None and n:
        return rate, f"captured prod outputs ({n:,})"
    return DEFAULT_ERROR_RATE, "default (no run or captured outputs to measure it)"


def _quality_sd(store: Store, run_id: str | None) -> tuple[float, str]:
    if run_id is not None:
        for scorer, arm_b, name in (("judge_quality", "", "judge quality"), ("similarity", "reference",
                                                                               "similarity to reference")):
            values = store.scores(run_id, scorer).filter(
                (pl.col("arm_a") == "prod") & (pl.col("arm_b") == arm_b))["value"].to_numpy()
            if len(values) >= 10:
                return float(np.std(values, ddof=1)), f"{name} of prod in run {run_id}"
    return DEFAULT_QUALITY_SD, "default (no scored run given)"

