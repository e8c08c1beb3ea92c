"""What a check can measure: the metrics, their statistics, and the default checks.

A check is settings plus a calculation: a metric of the per-request table, a statistic
(absolute on the candidate, relative to prod, or against prod's own noise), one threshold
and a severity. The defaults follow the pre-deploy practice the product is built around.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = ["Metric", "Statistic", "CheckSpec", "METRICS", "STATISTICS", "DEFAULT_CHECKS", "resolve_checks"]

Kind = Literal["absolute", "relative", "noise"]


@dataclass(frozen=True)
class Metric:
    name: str
    worse: Literal["higher", "lower"]
    statistics: tuple[str, ...]
    unit: Literal["usd", "ms", "rate", "count", "score"]
    label: str


@dataclass(frozen=True)
class Statistic:
    name: str
    kind: Kind
    null: float
    """The value of 'no difference' for relative statistics (0 for a difference, 1 for a ratio)."""
    quantile: float | None = None
    label: str = ""


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("cost_usd", "higher", ("mean", "diff", "ratio"), "usd", "cost per request"),
    Metric("latency_ms", "higher", ("mean", "p50", "p95", "p99", "ratio", "p50_ratio", "p95_ratio", "p99_ratio"),
           "ms", "latency"),
    Metric("error", "higher", ("rate", "diff"), "rate", "error rate"),
    Metric("tool_calls", "higher", ("mean", "diff", "ratio"), "count", "tool calls per request"),
    Metric("quality", "lower", ("mean", "diff"), "score", "quality"),
    Metric("judge_pairwise", "lower", ("net",), "score", "judge net win rate against prod"),
    Metric("similarity", "lower", ("noise_gap",), "score", "similarity to prod, minus prod's similarity to itself"),
    Metric("tool_behaviour", "higher", ("noise_gap",), "rate",
           "tool-set change rate against prod, minus prod's own change rate"),
)}  # fmt: skip

STATISTICS: dict[str, Statistic] = {s.name: s for s in (
    Statistic("mean", "absolute", 0.0, label="mean"),
    Statistic("rate", "absolute", 0.0, label="rate"),
    Statistic("p50", "absolute", 0.0, 0.50, "p50"),
    Statistic("p95", "absolute", 0.0, 0.95, "p95"),
    Statistic("p99", "absolute", 0.0, 0.99, "p99"),
    Statistic("diff", "relative", 0.0, label="difference from prod"),
    Statistic("ratio", "relative", 1.0, label="ratio to prod"),
    Statistic("p50_ratio", "relative", 1.0, 0.50, "p50 ratio to prod"),
    Statistic("p95_ratio", "relative", 1.0, 0.95, "p95 ratio to prod"),
    Statistic("p99_ratio", "relative", 1.0, 0.99, "p99 ratio to prod"),
    Statistic("net", "relative", 0.0, label="net win rate"),
    Statistic("noise_gap", "noise", 0.0, label="gap to the noise floor"),
)}  # fmt: skip


@dataclass(frozen=True)
class CheckSpec:
    """A resolved check: the metric, statistic and threshold it compares, and its severity."""

    name: str
    metric: str
    statistic: str
    threshold: float
    bound: Literal["max", "min"]
    severity: Literal["critical", "warning"]
    description: str = ""

    @property
    def kind(self) -> Kind:
        return STATISTICS[self.statistic].kind

    @property
    def worse(self) -> Literal["higher", "lower"]:
        return METRICS[self.metric].worse


def _check(name: str, metric: str, statistic: str, bound: Literal["max", "min"], threshold: float,
           severity: Literal["critical", "warning"], description: str) -> CheckSpec:
    return CheckSpec(name, metric, statistic, threshold, bound, severity, description)


DEFAULT_CHECKS: dict[str, CheckSpec] = {c.name: c for c in (
    _check("cost", "cost_usd", "ratio", "max", 1.2, "warning",
           "candidate mean cost per request at most 20% above prod's"),
    _check("latency_p99", "latency_ms", "p99", "max", 10_000, "critical", "candidate p99 latency at most 10,000 ms"),
    _check("error_rate", "error", "rate", "max", 0.05, "critical", "candidate error rate at most 5%"),
    _check("tool_calls", "tool_calls", "mean", "max", 12, "warning", "candidate at most 12 tool calls per request"),
    _check("quality", "quality", "mean", "min", 0.7, "critical", "candidate quality at least 0.7"),
    _check("quality_delta", "quality", "diff", "min", -0.05, "critical",
           "candidate quality at most 0.05 below prod's"),
    _check("judge_win_rate", "judge_pairwise", "net", "min", -0.10, "critical",
           "judge net win rate against prod (positions swapped) at least -0.10"),
    _check("similarity_vs_noise", "similarity", "noise_gap", "min", -0.05, "warning",
           "candidate as close to prod as prod is to itself, within 0.05"),
    _check("latency_p50_ratio", "latency_ms", "p50_ratio", "max", 1.2, "warning", "candidate p50 at most 1.2x prod's"),
    _check("latency_p95_ratio", "latency_ms", "p95_ratio", "max", 1.3, "warning", "candidate p95 at most 1.3x prod's"),
    _check("latency_p99_ratio", "latency_ms", "p99_ratio", "max", 1.5, "warning", "candidate p99 at most 1.5x prod's"),
    _check("error_rate_diff", "error", "diff", "max", 0.02, "critical",
           "candidate error rate at most 2 points above prod's"),
    _check("tool_behaviour", "tool_behaviour", "noise_gap", "max", 0.05, "warning",
           "candidate changes prod's tool calls at most 5 points more often than prod changes its own"),
)}  # fmt: skip


def resolve_checks(overrides: dict[str, Any]) -> list[CheckSpec]:
    """The defaults merged with the config's [gates.checks.*]; raises ValueError naming the bad key."""
    checks = dict(DEFAULT_CHECKS)
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
        if metric not in METRICS:
            raise ValueError(f"{where}.metric: unknown metric {metric!r} (metrics: {', '.join(METRICS)})")
        if statistic not in METRICS[metric].statistics:
            raise ValueError(f"{where}.statistic: {metric} has no statistic {statistic!r}"
                             f" (it has: {', '.join(METRICS[metric].statistics)})")
        bound, threshold = ("max", o.max) if o.max is not None else ("min", o.min) if o.min is not None else (
            base.bound, base.threshold)  # type: ignore[union-attr]
        expected = "max" if METRICS[metric].worse == "higher" else "min"
        if bound != expected:
            raise ValueError(f"{where}.{bound}: {metric} is worse when {METRICS[metric].worse}, so its limit is"
                             f" a {expected}")
        spec = CheckSpec(name, metric, statistic, float(threshold), bound,  # type: ignore[arg-type]
                         o.severity or (base.severity if base else "warning"),
                         o.description or (base.description if base and metric == base.metric else ""))
        checks[name] = replace(spec)
    return list(checks.values())
