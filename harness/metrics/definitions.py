"""What a metric and a check are: the statistic, the metric's unit and direction, a check's spec.

Scorers declare their metrics and checks with these; the registry (harness.metrics) collects them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.records import ARMS

__all__ = ["Unit", "Kind", "Worse", "Statistic", "STATISTICS", "Metric", "CheckSpec"]

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
