"""Check results as sentences a release manager can read, with values in their own units."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from harness.gates.catalogue import METRICS, STATISTICS, CheckSpec

if TYPE_CHECKING:
    from harness.gates.evaluate import CheckResult

__all__ = ["sentence", "format_value", "value_text", "limit_text", "measured"]


def format_value(value: float | None, metric: str, statistic: str, *, signed: bool = False) -> str:
    """A value of this metric and statistic: $0.0021, 1,840 ms, 4.2%, 1.23x, +1.5 pts, 0.712."""
    if value is None or not math.isfinite(value):
        return "n/a"
    stat = STATISTICS[statistic]
    unit = METRICS[metric].unit
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


def value_text(r: CheckResult, value: float | None) -> str:
    """A value of this result's metric and statistic; differences carry their sign."""
    stat = STATISTICS[r.statistic]
    return format_value(value, r.metric, r.statistic, signed=stat.kind != "absolute" and stat.null == 0.0)


def limit_text(r: CheckResult) -> str:
    """The edge a result is held to: '<= 10,000 ms', '<= 1.50x', '>= -0.050'."""
    stat = STATISTICS[r.statistic]
    higher_worse = METRICS[r.metric].worse == "higher"
    if r.kind == "absolute":
        edge = r.threshold
    else:
        allowed = r.margin if r.margin is not None else (r.threshold - stat.null if r.bound == "max"
                                                        else stat.null - r.threshold)
        edge = stat.null + allowed if higher_worse else stat.null - allowed
    return f"{'<=' if higher_worse else '>='} {value_text(r, edge) if r.kind != 'absolute' else format_value(edge, r.metric, r.statistic)}"


def measured(r: CheckResult) -> str:
    """What was measured, in words: 'candidate latency p99 2.66x prod's', 'candidate error rate 0.9%'."""
    who = "prod_repeat" if r.arm == "prod_repeat" else "candidate"
    stat = STATISTICS[r.statistic]
    value = format_value(r.estimate, r.metric, r.statistic, signed=stat.null == 0.0 and stat.kind != "absolute")
    label = METRICS[r.metric].label
    quantile = f" p{round(100 * stat.quantile)}" if stat.quantile is not None else ""
    if r.kind == "absolute":
        return f"{who} {label}{quantile} {value}"
    if r.statistic == "net":
        return f"judge net win rate of {who} against prod {value}"
    if r.metric == "similarity":
        return f"candidate's similarity to prod minus prod's similarity to itself {value}"
    if r.metric == "tool_behaviour":
        return f"candidate changes prod's tool set {value} more often than prod changes its own"
    if stat.null == 1.0:
        return f"{who} {label}{quantile} {value} prod's"
    return f"{who} {label} {value} against prod"


def sentence(r: CheckResult, spec: CheckSpec, alpha: float = 0.05) -> str:
    """One sentence: what was measured, the interval, the limit, and what it means."""
    stat = STATISTICS[r.statistic]
    head = f"{r.check_name} ({r.severity})"
    if r.segment_key:
        head = f"[{r.segment_key}={r.segment_value}] {head}"
    if r.status == "skipped":
        return f"{head} skipped: it needs an LLM judge and the config has no [judge]."
    if r.status == "nodata":
        why = r.details.get("why") or f"only {r.n} paired requests have data"
        return f"{head} has no verdict: {why}."
    signed = stat.kind != "absolute" and stat.null == 0.0
    fmt = lambda v: format_value(v, r.metric, r.statistic, signed=signed)  # noqa: E731
    interval = f"({round(100 * (1 - alpha))}% CI {fmt(r.ci_low)} to {fmt(r.ci_high)}, n={r.n:,})"
    if r.kind == "absolute":
        limit = f"the {'maximum' if r.bound == 'max' else 'minimum'} of {format_value(r.threshold, r.metric, r.statistic)}"
    else:
        allowed = r.margin if r.margin is not None else 0.0
        edge = stat.null + allowed if spec.worse == "higher" else stat.null - allowed
        widened = r.kind == "relative" and r.noise_band is not None and r.noise_band >= allowed > 0
        limit = f"the limit of {format_value(edge, r.metric, r.statistic, signed=signed)}" + (
            ", widened to prod's own noise band" if widened else "")
    source = {"judge": " Quality here is the LLM judge's score.",
              "reference similarity": " Quality here is similarity to the reference answers (no LLM judge)."
              }.get(r.source or "", "")
    what = f"{measured(r)} {interval}"
    if r.status == "pass":
        return f"{head} passes: {what} is within {limit}.{source}"
    if r.status == "fail":
        return f"{head} fails: {what} is {'above' if spec.worse == 'higher' else 'below'} {limit}.{source}"
    settle = f"; about {r.n_needed:,} requests would settle it" if r.n_needed else ""
    mde = f" (minimum detectable effect {format_value(r.mde, r.metric, r.statistic)})" if r.mde else ""
    return f"{head} is inconclusive: {what} straddles {limit}{mde}{settle}.{source}"
