"""Check results as sentences a release manager can read, with values in their own units."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.metrics import STATISTICS, CheckSpec, format_value, metric

if TYPE_CHECKING:
    from harness.gates.evaluate import CheckResult

__all__ = ["sentence", "format_value", "value_text", "limit_text", "measured", "margin_text", "PROD_TOO"]

PROD_TOO = "prod breaks this limit as well (the limit does not fit this workload, or prod needs attention)"


def _signed(statistic: str) -> bool:
    stat = STATISTICS[statistic]
    return stat.kind != "absolute" and stat.null == 0.0


def value_text(r: CheckResult, value: float | None) -> str:
    """A value of this result's metric and statistic; differences carry their sign."""
    return format_value(value, r.metric, r.statistic, signed=_signed(r.statistic))


def _edge(r: CheckResult, allowed: float) -> float:
    null = STATISTICS[r.statistic].null
    return null + allowed if metric(r.metric).worse == "higher" else null - allowed


def limit_text(r: CheckResult) -> str:
    """The edge a result is held to: '<= 10,000 ms', '<= 1.50x', '>= -0.050'."""
    stat = STATISTICS[r.statistic]
    higher_worse = metric(r.metric).worse == "higher"
    if r.kind == "absolute":
        return f"{'<=' if higher_worse else '>='} {format_value(r.threshold, r.metric, r.statistic)}"
    allowed = r.margin if r.margin is not None else (r.threshold - stat.null if r.bound == "max"
                                                    else stat.null - r.threshold)
    return f"{'<=' if higher_worse else '>='} {value_text(r, _edge(r, allowed))}"


def margin_text(r: CheckResult) -> str:
    """The margin beside its parts: 'threshold 0.50, prod's own noise band 0.80 (capped at 1.00)'."""
    if r.kind != "relative" or r.margin is None:
        return ""
    stat = STATISTICS[r.statistic]
    configured = abs(r.threshold - stat.null)
    parts = [f"threshold {configured:.3g}"]
    if r.noise_band is not None:
        raw = r.details.get("noise_band_raw")
        capped = f" (capped from {raw:.3g})" if r.details.get("noise_band_capped") and raw is not None else ""
        parts.append(f"prod's own noise band {r.noise_band:.3g}{capped}")
    return f"margin {r.margin:.3g}: " + ", ".join(parts)


def measured(r: CheckResult) -> str:
    """What was measured, in words: 'candidate latency p99 2.66x prod's', 'candidate error rate 0.9%'."""
    who = "prod_repeat" if r.arm == "prod_repeat" else "candidate"
    stat = STATISTICS[r.statistic]
    m = metric(r.metric)
    value = value_text(r, r.estimate)
    label = m.label
    quantile = f" p{round(100 * stat.quantile)}" if stat.quantile is not None else ""
    if r.kind == "absolute":
        return f"{who} {label}{quantile} {value}"
    if m.phrase:
        return m.phrase.format(who=who, value=value)
    if stat.null == 1.0:
        return f"{who} {label}{quantile} {value} prod's"
    return f"{who} {label} {value} against prod"


def sentence(r: CheckResult, spec: CheckSpec, alpha: float = 0.05) -> str:
    """One sentence: what was measured, the interval, the limit, and what it means."""
    stat = STATISTICS[r.statistic]
    head = f"{r.check_name} ({r.severity})"
    if r.segment_key:
        head = f"[{r.segment_key}={r.segment_value}] {head}"
    evidence = f" {r.details['evidence']}" if r.details.get("evidence") else ""
    note = f" Note: {r.details['note']}." if r.details.get("note") else ""
    if r.status == "skipped":
        return f"{head} skipped: {r.details.get('why', 'it does not apply to this run')}."
    if r.status == "unreliable":
        return f"{head} is unreliable, so it counts as undecided: {r.details.get('why', '')}{evidence}"
    if r.status == "nodata":
        why = r.details.get("why") or f"only {r.n} paired requests have data"
        return f"{head} has no verdict: {why}.{evidence if r.source else ''}{note}"
    fmt = lambda v: format_value(v, r.metric, r.statistic, signed=_signed(r.statistic))  # noqa: E731
    interval = f"({round(100 * (1 - alpha))}% CI {fmt(r.ci_low)} to {fmt(r.ci_high)}, n={r.n:,})"
    if r.kind == "absolute":
        limit = f"the {'maximum' if r.bound == 'max' else 'minimum'} of {format_value(r.threshold, r.metric, r.statistic)}"
    else:
        limit = f"the limit of {fmt(_edge(r, r.margin or 0.0))}"
        if r.kind == "relative" and r.noise_band is not None and r.margin is not None \
                and r.noise_band >= r.margin > abs(r.threshold - stat.null):
            limit += ", widened to prod's own noise band"
        if r.kind == "relative" and r.margin is not None:
            limit += f" ({margin_text(r)})"
    what = f"{measured(r)} {interval}"
    worse = "above" if metric(spec.metric).worse == "higher" else "below"
    if r.status == "pass":
        return f"{head} passes: {what} is within {limit}.{evidence}{note}"
    if r.status in ("fail", "fail_prod_too"):
        return f"{head} {'fails' if r.status == 'fail' else 'fails for prod as well'}: {what} is {worse} {limit}" \
               f"{_prod_clause(r)}.{evidence}{note}"
    settle = f"; about {r.n_needed:,} requests would settle it" if r.n_needed else ""
    mde = f" (minimum detectable effect {format_value(r.mde, r.metric, r.statistic)})" if r.mde else ""
    return f"{head} is inconclusive: {what} straddles {limit}{mde}{settle}.{evidence}{note}"


def _prod_clause(r: CheckResult) -> str:
    """For an absolute check: how prod does against the same limit, and how the candidate compares."""
    prod = r.details.get("prod")
    if not prod or prod.get("status") != "fail":
        return ""
    clause = f"; {PROD_TOO}: prod's own is {value_text(r, prod['estimate'])}"
    vs = r.details.get("vs_prod")
    if vs:
        shown = format_value(vs["estimate"], r.metric, vs["statistic"], signed=_signed(vs["statistic"]))
        low = format_value(vs["low"], r.metric, vs["statistic"], signed=_signed(vs["statistic"]))
        high = format_value(vs["high"], r.metric, vs["statistic"], signed=_signed(vs["statistic"]))
        against = "candidate against prod"
        if r.status == "fail":
            clause += f", but the candidate is significantly worse ({against} {shown}, CI {low} to {high})"
        else:
            clause += f", and the candidate is not significantly worse ({against} {shown}, CI {low} to {high})"
    return clause
