"""Evaluate one check on the per-request values: an estimate, its interval, a margin, a status.

The rule (the README repeats it): a check fails when its whole interval is worse than the
margin, passes when its whole interval is within it, and is inconclusive otherwise, with the
minimum detectable effect and the requests that would settle it. Too few paired requests is
nodata; a judge check without a judge is skipped, and with a judge that fails its own
diagnostics it is unreliable (never pass).

Relative checks: the margin is the larger of the configured threshold and prod's own noise
band, how far prod_repeat's estimate against prod sits from "no difference" (its point
estimate: the interval's edge would count sampling noise twice), capped at twice the
configured margin so a few slow outliers cannot wave a real regression through.

Absolute checks also measure prod. When prod breaks the limit at least as badly, the status
is `fail_prod_too`: the limit does not fit the workload (or prod needs attention), and that
alone is no reason to stop the candidate. It still fails when it is significantly worse than
prod (its paired interval against prod beyond prod's noise band).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness import stats
from harness.anytime import AnytimeInterval
from harness.config import GatesConfig
from harness.gates.anytime_intervals import NoSequence, absolute_sequence, relative_sequence
from harness.gates.describe import measured, sentence
from harness.gates.inputs import GateInputs
from harness.metrics import STATISTICS, CheckSpec, Metric, metric

__all__ = ["CheckResult", "evaluate", "NOISE_BAND_CAP", "OPEN_STATUSES"]

#: prod's noise band widens a relative margin to at most this many times the configured margin.
NOISE_BAND_CAP = 2.0
#: Statuses that decide nothing: the check could not say pass or fail.
OPEN_STATUSES = ("inconclusive", "nodata", "unreliable")


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
        return self.estimate - null if metric(self.metric).worse == "higher" else null - self.estimate


def evaluate(spec: CheckSpec, inputs: GateInputs, settings: GatesConfig, *, arm: str = "candidate",
             sanity: bool = False, n_boot: int | None = None, segment: tuple[str, str] = ("", ""),
             anytime: bool = False) -> CheckResult:
    """The check's result on these requests; `sanity` compares prod_repeat with the threshold alone.
    `anytime` uses confidence sequences (valid at every look of a sequential replay) instead of the
    bootstrap, on the rows in the order they were replayed."""
    result = CheckResult(spec.name, spec.metric, spec.statistic, spec.kind, "sanity" if sanity else spec.severity,
                         "nodata", spec.threshold, spec.bound, arm=arm, segment_key=segment[0],
                         segment_value=segment[1])
    m = metric(spec.metric)
    source = inputs.source_of(spec.metric)
    if m.evidence:
        result.source = source
        result.details["evidence"] = inputs.evidence_note.get(spec.metric, "")
    judge_based = m.needs_judge or (source is not None and metric(source).needs_judge)
    if m.needs_judge and inputs.judge is None:
        result.status = "skipped"
        result.details["why"] = "it needs an LLM judge and the run has no judge scores (no [judge] configured)"
    elif judge_based and inputs.judge is not None and not inputs.judge.reliable:
        result.status = "unreliable"
        result.details["why"] = inputs.judge.sentence()
    elif m.evidence and source is None:
        unreliable_judge = inputs.judge is not None and not inputs.judge.reliable
        result.status = "unreliable" if unreliable_judge else "nodata"
        result.details["why"] = inputs.evidence_note.get(spec.metric, f"no evidence of {m.label}")
    elif m.against == "reference" and not any((spec.metric, a) in inputs.series for a in m.arms):
        result.status = "skipped"
        result.details["why"] = (f"no request of this run has a reference to measure {m.label} against"
                                 + (" (a reference with tool_calls)" if m.score != "similarity" else ""))
    elif m.absent and not any((spec.metric, a) in inputs.series for a in m.arms):
        result.status = "skipped"
        result.details["why"] = m.absent
    elif spec.kind == "noise" and not inputs.has_repeat:
        result.details["why"] = "no prod_repeat arm: there is no noise floor to compare with"
    else:
        n_boot = 0 if anytime else n_boot or settings.n_bootstrap  # 0: confidence sequences
        try:
            _compute(result, spec, inputs, settings, n_boot, sanity)
        except (ValueError if anytime else NoSequence) as exc:  # a sequence refuses values it cannot bound
            result.status, result.details["why"] = "inconclusive", str(exc)
        _superseded(result, m, inputs)
    result.sentence = sentence(result, spec, settings.alpha)
    return result


def _superseded(result: CheckResult, m: Metric, inputs: GateInputs) -> None:
    """A proxy check (similarity stands in for quality) is reported, not gated, when the run has
    stronger evidence: an LLM judge or reference actions, not just reference answer text."""
    if not m.stands_in_for or result.status in ("nodata", "skipped"):
        return
    chosen = inputs.evidence.get(m.stands_in_for)
    if chosen is None or metric(chosen).score == m.score:
        return
    label = f"{metric(chosen).evidence_label} ({metric(chosen).label})"
    result.details["measured_status"] = result.status
    result.status = "skipped"
    result.details["why"] = (f"{m.label} only stands in for {m.stands_in_for}, and this run has the {label}:"
                             f" measured {measured(result)} ({result.details['measured_status']}), not gated")


def _compute(result: CheckResult, spec: CheckSpec, inputs: GateInputs, settings: GatesConfig, n_boot: int,
             sanity: bool) -> None:
    level, seed = 1 - settings.alpha, settings.seed
    label = metric(spec.metric).label
    if spec.kind == "absolute":
        values = inputs.column(spec.metric, result.arm)
        ok = np.isfinite(values)
        if ok.sum() < settings.min_requests:
            _too_few(result, int(ok.sum()), settings, f"a {result.arm} {label}",
                     inputs.notes.get((spec.metric, result.arm)))
            return
        interval = _absolute(spec, values[ok], inputs.clusters[ok], n_boot, level, seed)
        null, margin = spec.threshold, 0.0
        p_value = None
    else:
        first, second, null = _paired_columns(spec, inputs, result.arm)
        ok = np.isfinite(first) & np.isfinite(second)
        if ok.sum() < settings.min_requests:
            note = inputs.notes.get((spec.metric, result.arm)) or inputs.notes.get((spec.metric, "prod"))
            _too_few(result, int(ok.sum()), settings, f"{label} on both sides", note)
            return
        interval, p_value = _relative(spec, first[ok], second[ok], inputs.clusters[ok], n_boot, level, seed)
        threshold_margin = spec.threshold - null if spec.bound == "max" else null - spec.threshold
        margin = threshold_margin
        if spec.kind == "relative" and not sanity:
            result.noise_band = noise_band(spec, inputs, null, result.details)
            margin = max(threshold_margin, result.noise_band or 0.0)
        result.margin = margin
    result.n = int(ok.sum())
    result.estimate, result.ci_low, result.ci_high = interval.estimate, interval.low, interval.high
    result.p_value = p_value
    note = inputs.notes.get((spec.metric, result.arm))
    if note:
        result.details["note"] = note
    if not n_boot and math.isfinite(interval.estimate) and not math.isfinite(interval.halfwidth):
        result.status = "inconclusive"
        result.details["why"] = "its anytime interval is still unbounded: too few requests so far"
        return
    if not all(math.isfinite(v) for v in (interval.estimate, interval.low, interval.high)):
        result.details["why"] = "the statistic is undefined on these requests"
        return
    result.status, distance = _status(interval, null, margin, metric(spec.metric).worse == "higher")
    if result.status == "inconclusive":
        result.n_needed = stats.n_to_settle(result.n, interval.halfwidth, distance)
    from scipy.stats import norm

    z_alpha, z_power = norm.ppf(1 - settings.alpha / 2), norm.ppf(settings.power)
    result.mde = interval.halfwidth * (z_alpha + z_power) / z_alpha
    if spec.kind == "absolute" and result.status == "fail" and result.arm == "candidate" and not sanity:
        _against_prod(result, spec, inputs, n_boot, level, seed)


def _status(interval: stats.Interval | AnytimeInterval, null: float, margin: float, higher_worse: bool) -> tuple[str, float]:
    """pass / fail / inconclusive by the rule, and the estimate's distance to the margin."""
    lo, hi = (interval.low - null, interval.high - null) if higher_worse else (null - interval.high, null - interval.low)
    est = interval.estimate - null if higher_worse else null - interval.estimate
    if lo > margin:
        return "fail", abs(est - margin)
    if hi <= margin:
        return "pass", abs(est - margin)
    return "inconclusive", abs(est - margin)


def _against_prod(result: CheckResult, spec: CheckSpec, inputs: GateInputs, n_boot: int, level: float,
                  seed: int) -> None:
    """A failing absolute check: does prod break the limit too, and is the candidate worse than prod?"""
    prod = inputs.column(spec.metric, "prod")
    ok = np.isfinite(prod)
    if ok.sum() < 2:
        return
    prod_interval = _absolute(spec, prod[ok], inputs.clusters[ok], n_boot, level, seed)
    prod_status, _ = _status(prod_interval, spec.threshold, 0.0, metric(spec.metric).worse == "higher")
    result.details["prod"] = {"estimate": prod_interval.estimate, "low": prod_interval.low,
                              "high": prod_interval.high, "status": prod_status}
    if prod_status != "fail":
        return
    # Prod breaks the limit as well: the candidate fails only if it is significantly worse than prod.
    relative = _relative_spec(spec)
    first, second, null = _paired_columns(relative, inputs, "candidate")
    both = np.isfinite(first) & np.isfinite(second)
    if both.sum() < 2:
        result.status = "fail_prod_too"
        return
    interval, _ = _relative(relative, first[both], second[both], inputs.clusters[both], n_boot, level, seed)
    band = noise_band(relative, inputs, null, {}) or 0.0
    worse, _ = _status(interval, null, band, metric(spec.metric).worse == "higher")
    result.details["vs_prod"] = {"statistic": relative.statistic, "estimate": interval.estimate,
                                 "low": interval.low, "high": interval.high, "noise_band": band}
    if worse != "fail":
        result.status = "fail_prod_too"


def _relative_spec(spec: CheckSpec) -> CheckSpec:
    """The paired comparison with prod behind an absolute statistic: a ratio for quantiles and
    for latency and cost means, a difference for rates and scores."""
    quantile = STATISTICS[spec.statistic].quantile
    if quantile is not None:
        statistic = f"p{round(100 * quantile)}_ratio"
    else:
        statistic = "ratio" if "ratio" in metric(spec.metric).statistics else "diff"
    return CheckSpec(spec.name, spec.metric, statistic, STATISTICS[statistic].null, spec.bound, spec.severity)


def _too_few(result: CheckResult, n: int, settings: GatesConfig, what: str, note: str | None = None) -> None:
    result.n = n
    if n == 0 and note:
        result.details["why"] = f"no request has {what}: {note}"
        return
    result.details["why"] = (f"no request has {what}" if n == 0
                             else f"only {n} requests have {what} (at least {settings.min_requests} needed)")
    if note:
        result.details["note"] = note


def _absolute(spec: CheckSpec, values: np.ndarray, clusters: np.ndarray, n_boot: int, level: float,
              seed: int) -> stats.Interval | AnytimeInterval:
    if not n_boot:
        return absolute_sequence(spec, values, clusters, 1 - level)
    q = STATISTICS[spec.statistic].quantile
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
              seed: int) -> tuple[stats.Interval | AnytimeInterval, float | None]:
    if not n_boot:  # a fixed-sample p-value means nothing under continuous monitoring
        return relative_sequence(spec, a, b, clusters, 1 - level), None
    statistic = STATISTICS[spec.statistic]
    alternative = "greater" if metric(spec.metric).worse == "higher" else "less"
    if spec.statistic in ("diff", "net", "noise_gap"):
        interval = stats.bootstrap_mean(a - b, clusters, n_boot=n_boot, level=level, seed=seed)
    elif statistic.quantile is None:
        interval = stats.bootstrap_ratio_of_means(a, b, clusters, n_boot=n_boot, level=level, seed=seed)
    else:
        interval = stats.bootstrap_quantile_ratio(a, b, statistic.quantile, clusters, n_boot=n_boot, level=level,
                                                  seed=seed)
    test = metric(spec.metric).test
    if test == "mcnemar":
        p_value = stats.mcnemar_p(a > 0.5, b > 0.5, alternative)
    elif test == "sign" or spec.statistic == "net":
        p_value = stats.sign_test_p(a - b, alternative)
    else:
        p_value = stats.wilcoxon_p(a - b, alternative)
    return interval, p_value


def noise_band(spec: CheckSpec, inputs: GateInputs, null: float, details: dict[str, Any]) -> float | None:
    """prod's own noise on a relative statistic: |prod_repeat's estimate against prod - no difference|,
    capped at NOISE_BAND_CAP times the configured margin (the raw value is kept in `details`)."""
    if not inputs.has_repeat:
        return None
    a, b, _ = _paired_columns(spec, inputs, "prod_repeat")
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return None
    a, b = a[ok], b[ok]
    statistic = STATISTICS[spec.statistic]
    if spec.statistic in ("diff", "net"):
        estimate = float(np.mean(a - b))
    elif statistic.quantile is None:
        estimate = float(np.mean(a) / np.mean(b)) if np.mean(b) else math.nan
    else:
        q_b = float(np.quantile(b, statistic.quantile))
        estimate = float(np.quantile(a, statistic.quantile)) / q_b if q_b else math.nan
    if not math.isfinite(estimate):
        return None
    raw = abs(estimate - null)
    configured = abs(spec.threshold - null)
    cap = NOISE_BAND_CAP * configured if configured > 0 else raw
    details["noise_band_raw"] = raw
    if raw > cap:
        details["noise_band_capped"] = True
    return min(raw, cap)
