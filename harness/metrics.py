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
from dataclasses import dataclass
from functools import cache
from typing import Literal

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

Unit = Literal["usd", "ms", "rate", "count", "score"]
Kind = Literal["absolute", "relative", "noise"]
Worse = Literal["higher", "lower"]


@dataclass(frozen=True)
class Statistic:
    """How a check summarizes a metric: absolute on one arm, relative to prod, or against prod's noise."""

    name: str
    kind: Kind
    null: float
    """The value of 'no difference' for relative statistics (0 for a difference, 1 for a ratio)."""
    quantile: float | None = None
    label: str = ""


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
class Metric:
    """One measurable thing about a response, per request and arm.

    `response` names a per-response measure the store aggregates (cost_usd, latency_ms, error,
    tool_calls); `score` a scorer's output and `against` its second arm ('prod', 'reference',
    '' for one-arm scores); `evidence` makes the metric a choice among others, first that has
    data wins. `test` is the paired test a relative check reports (mcnemar for 0/1 outcomes).
    `phrase` is how a noise or net result reads, with {who} and {value}.
    """

    name: str
    label: str
    unit: Unit
    worse: Worse
    statistics: tuple[str, ...]
    arms: tuple[str, ...] = ARMS
    response: str | None = None
    score: str | None = None
    against: str = ""
    evidence: tuple[str, ...] = ()
    test: Literal["mcnemar", "wilcoxon", "sign"] = "wilcoxon"
    needs_judge: bool = False
    phrase: str = ""
    evidence_label: str = ""
    """The kind of evidence this metric is when another metric reads it ("LLM judge", "reference actions")."""
    absent: str = ""
    """Why a check of this metric is skipped on a run where no arm has any value of it (a metric
    only some runs produce, like the tool sandbox's); empty: such a check is nodata."""
    stands_in_for: str = ""
    """A proxy: its checks are reported but not gated when the run has stronger evidence of this
    derived metric (similarity to prod stands in for quality until a judge or reference actions exist)."""


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
    def worse(self) -> Worse:
        return metric(self.metric).worse


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
