"""The gates on a live canary: each check with anytime-valid intervals, and the look's decision.

In a canary, prod and canary answer different users, so a relative check compares two
independent samples: each arm gets a confidence sequence at alpha/2 (both hold at once with
probability 1 - alpha) and the difference or ratio interval is built from their ends. Each
request is one unit, in the order the logs were read (clock skew between files does not reorder
anything). Checks on scores (quality, similarity) need a scorer and are skipped here.

Decision: rollback when a critical check fails, pause when a warning fails, promote when every
critical check passes and the step has run its duration, continue otherwise (with the reason).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from harness import anytime
from harness.anytime import AnytimeInterval, sequential_status
from harness.config import GatesConfig
from harness.gates.anytime_intervals import NoSequence, absolute_sequence, score_bounds
from harness.gates.catalogue import resolve_checks
from harness.metrics import STATISTICS, CheckSpec, metric

__all__ = ["LiveCheck", "Look", "evaluate_look", "DECISIONS", "FINAL_DECISIONS"]

DECISIONS = ("promote", "continue", "pause", "rollback")
FINAL_DECISIONS = ("promote", "pause", "rollback")


@dataclass
class LiveCheck:
    name: str
    severity: str
    metric: str
    statistic: str
    threshold: float
    status: str
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    n_canary: int = 0
    n_prod: int = 0
    why: str = ""


@dataclass
class Look:
    """One look at a live canary: its decision, why, and every check."""

    decision: str
    reason: str
    n_canary: int
    n_prod: int
    elapsed_h: float
    checks: list[LiveCheck] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.decision in FINAL_DECISIONS

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["final"] = self.final
        return out


def evaluate_look(records: pl.DataFrame, settings: GatesConfig, duration_h: float) -> Look:
    """The checks on every record read so far (in read order), and the decision."""
    arms = {arm: records.filter(pl.col("arm") == arm) for arm in ("canary", "prod")}
    checks = [_check(spec, arms["canary"], arms["prod"], settings) for spec in resolve_checks(settings.checks)]
    elapsed = _elapsed_h(arms["canary"])
    n_canary, n_prod = arms["canary"].height, arms["prod"].height
    decision, reason = _decide(checks, n_canary, n_prod, elapsed, duration_h, settings.min_requests)
    return Look(decision, reason, n_canary, n_prod, elapsed, checks)


def _check(spec: CheckSpec, canary: pl.DataFrame, prod: pl.DataFrame, settings: GatesConfig) -> LiveCheck:
    m = metric(spec.metric)
    result = LiveCheck(spec.name, spec.severity, spec.metric, spec.statistic, spec.threshold, "skipped")
    if m.response is None or spec.kind == "noise":
        result.why = "needs scores of paired answers, which a live canary log does not have"
        return result
    if m.response not in canary.columns:
        result.why = m.absent or f"a live canary log does not record {m.label}"
        return result
    c = _values(canary, m.response)
    p = _values(prod, m.response)
    result.n_canary, result.n_prod = len(c), len(p)
    result.status = "nodata"
    if len(c) < settings.min_requests:
        result.why = f"only {len(c)} canary answers with {m.label} (at least {settings.min_requests} needed)"
        return result
    if spec.kind != "absolute" and len(p) < settings.min_requests:
        result.why = (f"no prod traffic yet: only {len(p)} prod answers with {m.label}"
                      f" (at least {settings.min_requests} needed)")
        return result
    try:
        interval = (absolute_sequence(spec, c, None, settings.alpha) if spec.kind == "absolute"
                    else _two_sample(spec, c, p, settings.alpha))  # type: ignore[arg-type]
    except (NoSequence, ValueError) as exc:
        result.status, result.why = "inconclusive", str(exc)
        return result
    null = spec.threshold if spec.kind == "absolute" else STATISTICS[spec.statistic].null
    margin = 0.0 if spec.kind == "absolute" else abs(spec.threshold - null)
    status = sequential_status(interval, null, margin, metric(spec.metric).worse)
    result.status = "inconclusive" if status == "undecided" else status
    result.estimate, result.low, result.high = (_finite(v) for v in (interval.estimate, interval.low, interval.high))
    return result


def _two_sample(spec: CheckSpec, c: np.ndarray, p: np.ndarray, alpha: float) -> AnytimeInterval:
    """Difference or ratio of two independent arms from a sequence for each at alpha / 2."""
    statistic = STATISTICS[spec.statistic]
    if statistic.quantile is not None:
        a, b = (anytime.cs_quantile(v, statistic.quantile, alpha=alpha / 2) for v in (c, p))
    else:
        a, b = (_mean(spec.metric, v, alpha / 2) for v in (c, p))
    n = min(a.n, b.n)
    if spec.statistic == "diff":
        return AnytimeInterval(a.estimate - b.estimate, a.low - b.high, a.high - b.low, n, 1 - alpha)
    if spec.statistic not in ("ratio",) and statistic.quantile is None:
        raise NoSequence(f"statistic {spec.statistic} has no two-sample sequence")
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = a.estimate / b.estimate if b.estimate > 0 else math.nan
        low = max(a.low, 0.0) / b.high if math.isfinite(b.high) and b.high > 0 else 0.0
        high = a.high / b.low if b.low > 0 else math.inf
    return AnytimeInterval(estimate, low, high, n, 1 - alpha)


def _mean(metric_name: str, values: np.ndarray, alpha: float) -> AnytimeInterval:
    bounds = score_bounds(metric_name)
    if bounds is not None:
        return anytime.cs_mean_bounded(values, *bounds, alpha=alpha)
    return anytime.cs_ratio_of_means(values, np.ones_like(values), alpha=alpha)


def _decide(checks: list[LiveCheck], n_canary: int, n_prod: int, elapsed_h: float, duration_h: float,
            min_requests: int) -> tuple[str, str]:
    failing = lambda severity: [c.name for c in checks if c.severity == severity and c.status == "fail"]
    if failing("critical"):
        return "rollback", f"critical check failed: {', '.join(failing('critical'))}"
    if failing("warning"):
        return "pause", f"warning check failed: {', '.join(failing('warning'))}"
    if n_prod == 0:
        return "continue", "no prod traffic yet: nothing to compare the canary with"
    if n_canary < min_requests:
        return "continue", f"only {n_canary} canary answers so far (at least {min_requests} needed)"
    gating = [c for c in checks if c.severity == "critical" and c.status != "skipped"]
    open_checks = [c.name for c in gating if c.status != "pass"]
    if open_checks:
        return "continue", f"critical checks not decided yet: {', '.join(open_checks)}"
    if elapsed_h < duration_h:
        return "continue", f"every critical check passes; the step has run {elapsed_h:.2f} of {duration_h:g} h"
    return "promote", f"every critical check passes after {elapsed_h:.2f} h (step duration {duration_h:g} h)"


def _values(frame: pl.DataFrame, column: str) -> np.ndarray:
    values = frame[column].cast(pl.Float64).to_numpy()
    return values[np.isfinite(values)]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _elapsed_h(canary: pl.DataFrame) -> float:
    """Hours between the first and the last canary record's own timestamps (0 without any)."""
    stamps = canary["timestamp"].drop_nulls()
    if stamps.len() < 2:
        return 0.0
    return float((stamps.max() - stamps.min()).total_seconds()) / 3600  # type: ignore[operator,union-attr]
