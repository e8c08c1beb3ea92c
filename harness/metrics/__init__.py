"""The one registry of metrics: what each measures, where its numbers come from, for which
arms, which way is worse, its unit and how its values read.

A metric is either a per-response measure the store aggregates per request and arm (cost,
latency, errors, tool calls), a score a scorer writes (declared next to the scorer, in its
own file under harness/scoring/scorers/), or a choice among other metrics in a stated order
of evidence (quality: the LLM judge, else reference actions, else reference answer text).
The store's gate tables, the gates, the simulator, the report and the CLI all read this
registry, so a new scorer with its metric and check is one file plus its test.
"""

from __future__ import annotations

import math
from functools import cache

from harness.metrics.definitions import STATISTICS, CheckSpec, Kind, Metric, Statistic, Unit
from harness.records import ARMS

__all__ = [
    "ARMS",
    "Unit",
    "Kind",
    "Statistic",
    "STATISTICS",
    "Metric",
    "CheckSpec",
    "metrics",
    "metric",
    "scorer_checks",
    "format_value",
]


_RESPONSE_METRICS = (
    Metric("cost_usd", "cost per request", "usd", "higher", ("mean", "diff", "ratio"), response="cost_usd"),
    Metric("latency_ms", "latency", "ms", "higher",
           ("mean", "p50", "p95", "p99", "ratio", "p50_ratio", "p95_ratio", "p99_ratio"), response="latency_ms"),
    Metric("error", "error rate", "rate", "higher", ("rate", "diff"), response="error", test="mcnemar"),
    Metric("tool_calls", "tool calls per request", "count", "higher", ("mean", "diff", "ratio"), response="tool_calls"),
    Metric("tool_miss", "share of sandboxed tool calls matching no recording", "rate", "higher", ("rate", "diff"),
           response="tool_miss", absent="no tool call went through the tool sandbox in this run"),
    Metric("live_writes", "write calls that reached a live tool without allow_live_write", "count", "higher",
           ("mean",), response="live_writes", absent="no tool call went through the tool sandbox in this run"),
)  # fmt: skip

#: Quality is the first kind of evidence that exists, in this order, and every sentence says which.
QUALITY = Metric("quality", "quality", "score", "lower", ("mean", "diff"),
                 evidence=("judge_quality", "action_f1", "reference_similarity"))


@cache
def metrics() -> dict[str, Metric]:
    """Every metric by name: the per-response ones, those the scorers declare, and quality."""
    from harness.scoring.scorers import all_scorers

    found: dict[str, Metric] = {m.name: m for m in _RESPONSE_METRICS}
    for scorer in all_scorers():
        for m in scorer.metrics:
            if m.name in found:
                raise RuntimeError(f"metric {m.name!r} is declared twice (again by scorer {scorer.name!r})")
            found[m.name] = m
    found[QUALITY.name] = QUALITY
    return found


def metric(name: str) -> Metric:
    return metrics()[name]


@cache
def scorer_checks() -> tuple[CheckSpec, ...]:
    """The default checks the scorers declare next to their metrics."""
    from harness.scoring.scorers import all_scorers

    return tuple(check for scorer in all_scorers() for check in scorer.checks)


def format_value(value: float | None, metric_name: str, statistic: str, *, signed: bool = False) -> str:
    """A value of this metric and statistic: $0.0021, 1,840 ms, 4.2%, 1.23x, +1.5 pts, 0.712."""
    if value is None or not math.isfinite(value):
        return "n/a"
    stat = STATISTICS[statistic]
    unit = metric(metric_name).unit
    if stat.null == 1.0 and stat.kind == "relative":
        return f"{value:.2f}x"
    sign = "+" if signed and value > 0 else ""
    if unit == "usd":
        return f"{sign}${value:,.5f}" if abs(value) < 0.1 else f"{sign}${value:,.2f}"
    if unit == "ms":
        return f"{sign}{value:,.0f} ms"
    if unit == "rate":
        return f"{sign}{100 * value:.1f} pts" if stat.kind != "absolute" else f"{100 * value:.1f}%"
    if unit == "count":
        return f"{sign}{value:,.2f}"
    return f"{sign}{value:.3f}"
