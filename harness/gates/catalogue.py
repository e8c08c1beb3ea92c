"""The default checks and how a config changes them.

A check is settings plus a calculation: a metric from the registry (harness.metrics), a
statistic (absolute on the candidate, relative to prod, or against prod's own noise), one
threshold and a severity. The defaults follow the pre-deploy practice the product is built
around; the scorers add the checks on their own metrics (task success, action F1, ...).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from harness.metrics import CheckSpec, metrics, scorer_checks

__all__ = ["CheckSpec", "default_checks", "resolve_checks"]


def _check(name: str, metric: str, statistic: str, bound: Literal["max", "min"], threshold: float,
           severity: Literal["critical", "warning"], description: str) -> CheckSpec:
    return CheckSpec(name, metric, statistic, threshold, bound, severity, description)


_CORE_CHECKS = (
    _check("cost", "cost_usd", "ratio", "max", 1.2, "warning",
           "candidate mean cost per request at most 20% above prod's"),
    _check("latency_p99", "latency_ms", "p99", "max", 10_000, "critical", "candidate p99 latency at most 10,000 ms"),
    _check("error_rate", "error", "rate", "max", 0.05, "critical", "candidate error rate at most 5%"),
    _check("tool_calls", "tool_calls", "mean", "max", 12, "warning", "candidate at most 12 tool calls per request"),
    _check("quality", "quality", "mean", "min", 0.7, "critical", "candidate quality at least 0.7"),
    _check("quality_delta", "quality", "diff", "min", -0.05, "critical",
           "candidate quality at most 0.05 below prod's"),
    _check("latency_p50_ratio", "latency_ms", "p50_ratio", "max", 1.2, "warning", "candidate p50 at most 1.2x prod's"),
    _check("latency_p95_ratio", "latency_ms", "p95_ratio", "max", 1.3, "warning", "candidate p95 at most 1.3x prod's"),
    _check("latency_p99_ratio", "latency_ms", "p99_ratio", "max", 1.5, "warning", "candidate p99 at most 1.5x prod's"),
    _check("error_rate_diff", "error", "diff", "max", 0.02, "critical",
           "candidate error rate at most 2 points above prod's"),
    _check("tool_miss_rate", "tool_miss", "diff", "max", 0.05, "warning",
           "candidate tool calls matching no recording at most 5 points above prod's own rate"),
)  # fmt: skip


@cache
def default_checks() -> dict[str, CheckSpec]:
    """The core checks and those the scorers declare, by name."""
    return {c.name: c for c in (*_CORE_CHECKS, *scorer_checks())}


def resolve_checks(overrides: dict[str, Any]) -> list[CheckSpec]:
    """The defaults merged with the config's [gates.checks.*]; raises ValueError naming the bad key."""
    known = metrics()
    checks = dict(default_checks())
    for name, o in overrides.items():
        where = f"checks.{name}"
        if not o.enabled:
            checks.pop(name, None)
            continue
        base = checks.get(name)
        if base is None and (o.metric is None or o.statistic is None or (o.max is None and o.min is None)):
            raise ValueError(f"{where}: a new check needs metric, statistic and max or min")
        metric = o.metric or base.metric  # type: ignore[union-attr]
        statistic = o.statistic or base.statistic  # type: ignore[union-attr]
        if metric not in known:
            raise ValueError(f"{where}.metric: unknown metric {metric!r} (metrics: {', '.join(known)})")
        if statistic not in known[metric].statistics:
            raise ValueError(f"{where}.statistic: {metric} has no statistic {statistic!r}"
                             f" (it has: {', '.join(known[metric].statistics)})")
        bound, threshold = ("max", o.max) if o.max is not None else ("min", o.min) if o.min is not None else (
            base.bound, base.threshold)  # type: ignore[union-attr]
        expected = "max" if known[metric].worse == "higher" else "min"
        if bound != expected:
            raise ValueError(f"{where}.{bound}: {metric} is worse when {known[metric].worse}, so its limit is"
                             f" a {expected}")
        checks[name] = CheckSpec(name, metric, statistic, float(threshold), bound,  # type: ignore[arg-type]
                                 o.severity or (base.severity if base else "warning"),
                                 o.description or (base.description if base and metric == base.metric else ""))
    return list(checks.values())
