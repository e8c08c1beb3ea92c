"""Evaluate one check on the per-request table: an estimate, its interval, a margin, a status.

The rule (the README repeats it): a check fails when its whole interval is worse than the
margin, passes when its whole interval is within it, and is inconclusive otherwise, with the
minimum detectable effect and the requests that would settle it. Too few paired requests is
nodata; a check whose source is not configured (a judge metric without a judge) is skipped.
For a relative check the margin is the larger of the configured threshold and the noise band:
how far prod_repeat's own interval against prod reaches from "no difference".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from harness import stats
from harness.config import GatesConfig
from harness.gates.catalogue import METRICS, STATISTICS, CheckSpec
from harness.gates.describe import sentence
from harness.gates.inputs import GateInputs

__all__ = ["CheckResult", "evaluate"]


@dataclass
class CheckResult:
    """One check's outcome (overall, or for one segment, or prod_repeat's sanity check)."""

    check_name: str
    metric: str
    statistic: str
    kind: str
    severity: str
    status: str
    threshold: float
    bound: str
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    margin: float | None = None
    noise_band: float | None = None
    n: int = 0
    p_value: float | None = None
    p_adjusted: float | None = None
    mde: float | None = None
    n_needed: int | None = None
    source: str | None = None
    segment_key: str = ""
    segment_value: str = ""
    arm: str = "candidate"
    sentence: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def worse_by(self) -> float | None:
        """How far the estimate is on the worse side of 'no difference' (relative) or the threshold."""
        if self.estimate is None:
            return None
        null = STATISTICS[self.statistic].null if self.kind != "absolute" else self.threshold
        return self.estimate - null if METRICS[self.metric].worse == "higher" else null - self.estimate


def evaluate(spec: CheckSpec, inputs: GateInputs, settings: GatesConfig, *, arm: str = "candidate",
             sanity: bool = False, n_boot: int | None = None, segment: tuple[str, str] = ("", "")) -> CheckResult:
    """The check's result on these requests; `sanity` compares prod_repeat with the threshold alone."""
    result = CheckResult(spec.name, spec.metric, spec.statistic, spec.kind, "sanity" if sanity else spec.severity,
                         "nodata", spec.threshold, spec.bound, arm=arm, segment_key=segment[0],
                         segment_value=segment[1])
    if spec.metric == "quality":
        result.source = inputs.quality_source
    if spec.metric == "judge_pairwise" and not inputs.has_judge:
        result.status = "skipped"
    elif spec.metric == "quality" and inputs.quality_source is None:
        result.details["why"] = "no judge scores and no reference answers"
    elif spec.kind == "noise" and not inputs.has_repeat:
        result.details["why"] = "no prod_repeat arm: there is no noise floor to compare with"
    else:
        _compute(result, spec, inputs, settings, n_boot or settings.n_bootstrap, sanity)
    result.sentence = sentence(result, spec, settings.alpha)
    return result


def _compute(result: CheckResult, spec: CheckSpec, inputs: GateInputs, settings: GatesConfig, n_boot: int,
             sanity: bool) -> None:
    level, seed = 1 - settings.alpha, settings.seed
    worse_higher = spec.worse == "higher"
    if spec.kind == "absolute":
        values = inputs.column(spec.metric, result.arm)
        ok = np.isfinite(values)
        if ok.sum() < settings.min_requests:
            _too_few(result, int(ok.sum()), settings, f"a {result.arm} {METRICS[spec.metric].label}")
            return
        interval = _absolute(spec.statistic, values[ok], inputs.clusters[ok], n_boot, level, seed)
        null, margin = spec.threshold, 0.0
        p_value = None
    else:
        first, second, null = _paired_columns(spec, inputs, result.arm)
        ok = np.isfinite(first) & np.isfinite(second)
        if ok.sum() < settings.min_requests:
            _too_few(result, int(ok.sum()), settings, f"{METRICS[spec.metric].label} on both sides")
            return
        interval, p_value = _relative(spec, first[ok], second[ok], inputs.clusters[ok], n_boot, level, seed)
        threshold_margin = spec.threshold - null if spec.bound == "max" else null - spec.threshold
        margin = threshold_margin
        if spec.kind == "relative" and not sanity:
            result.noise_band = _noise_band(spec, inputs, null, n_boot, level, seed)
            margin = max(threshold_margin, result.noise_band or 0.0)
        result.margin = margin
    result.n = int(ok.sum())
    result.estimate, result.ci_low, result.ci_high = interval.estimate, interval.low, interval.high
    result.p_value = p_value
    if not all(math.isfinite(v) for v in (interval.estimate, interval.low, interval.high)):
        result.details["why"] = "the statistic is undefined on these requests"
        return
    # distances on the worse side: of the threshold (absolute) or of no-difference (relative)
    lo, hi = (interval.low - null, interval.high - null) if worse_higher else (null - interval.high, null - interval.low)
    est = interval.estimate - null if worse_higher else null - interval.estimate
    if lo > margin:
        result.status = "fail"
    elif hi <= margin:
        result.status = "pass"
    else:
        result.status = "inconclusive"
        result.n_needed = stats.n_to_settle(result.n, interval.halfwidth, abs(est - margin))
    z_alpha, z_power = norm.ppf(1 - settings.alpha / 2), norm.ppf(settings.power)
    result.mde = interval.halfwidth * (z_alpha + z_power) / z_alpha


def _too_few(result: CheckResult, n: int, settings: GatesConfig, what: str) -> None:
    result.n = n
    result.details["why"] = (f"no request has {what}" if n == 0
                             else f"only {n} requests have {what} (at least {settings.min_requests} needed)")


def _absolute(statistic: str, values: np.ndarray, clusters: np.ndarray, n_boot: int, level: float,
              seed: int) -> stats.Interval:
    q = STATISTICS[statistic].quantile
    if q is None:
        return stats.bootstrap_mean(values, clusters, n_boot=n_boot, level=level, seed=seed)
    return stats.bootstrap_quantile(values, q, clusters, n_boot=n_boot, level=level, seed=seed)


def _paired_columns(spec: CheckSpec, inputs: GateInputs, arm: str) -> tuple[np.ndarray, np.ndarray, float]:
    """The two columns a relative or noise check compares, and its no-difference value."""
    null = STATISTICS[spec.statistic].null
    if spec.kind == "noise":
        return inputs.column(spec.metric, "candidate"), inputs.column(spec.metric, "prod_repeat"), null
    if spec.statistic == "net":
        values = inputs.column(spec.metric, arm)
        return values, np.zeros_like(values), null
    return inputs.column(spec.metric, arm), inputs.column(spec.metric, "prod"), null


def _relative(spec: CheckSpec, a: np.ndarray, b: np.ndarray, clusters: np.ndarray, n_boot: int, level: float,
              seed: int) -> tuple[stats.Interval, float]:
    statistic = STATISTICS[spec.statistic]
    alternative = "greater" if spec.worse == "higher" else "less"
    if spec.statistic in ("diff", "net", "noise_gap"):
        interval = stats.bootstrap_mean(a - b, clusters, n_boot=n_boot, level=level, seed=seed)
    elif statistic.quantile is None:
        interval = stats.bootstrap_ratio_of_means(a, b, clusters, n_boot=n_boot, level=level, seed=seed)
    else:
        interval = stats.bootstrap_quantile_ratio(a, b, statistic.quantile, clusters, n_boot=n_boot, level=level,
                                                  seed=seed)
    if spec.metric in ("error", "tool_behaviour"):
        p_value = stats.mcnemar_p(a > 0.5, b > 0.5, alternative)
    elif spec.statistic == "net":
        p_value = stats.sign_test_p(a, alternative)
    else:
        p_value = stats.wilcoxon_p(a - b, alternative)
    return interval, p_value


def _noise_band(spec: CheckSpec, inputs: GateInputs, null: float, n_boot: int, level: float, seed: int) -> float | None:
    """How far prod_repeat's interval against prod reaches from no difference, or None without it."""
    if not inputs.has_repeat:
        return None
    a, b, _ = _paired_columns(spec, inputs, "prod_repeat")
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return None
    interval, _ = _relative(spec, a[ok], b[ok], inputs.clusters[ok], n_boot, level, seed)
    if not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return None
    return max(abs(interval.low - null), abs(interval.high - null))
