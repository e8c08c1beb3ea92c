"""The per-request values the checks read, as numpy arrays keyed by (metric, arm).

Built from the store's gate tables through the metric registry: per-response measures per
arm, scorer outputs per arm, and derived metrics (quality) resolved to the first kind of
evidence that exists and can be trusted. Also the clusters, the segments, which arms
answered, how healthy the LLM judge is, and notes on values counted as unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from harness.config import GatesConfig
from harness.metrics import metrics

__all__ = ["GateInputs", "JudgeHealth", "build_inputs", "resolve_evidence"]


@dataclass
class JudgeHealth:
    """Whether the LLM judge's scores count as evidence, and why not."""

    problems: list[str] = field(default_factory=list)

    @property
    def reliable(self) -> bool:
        return not self.problems

    def sentence(self) -> str:
        return ("The LLM judge is unreliable on this run, so its checks are not evidence: "
                + "; ".join(self.problems) + ".")


@dataclass
class GateInputs:
    """Values by (metric, arm), NaN where a request has none, one row per request."""

    series: dict[tuple[str, str], np.ndarray]
    clusters: np.ndarray
    arms: frozenset[str]
    """Arms with at least one answer in the run (read from the responses themselves)."""
    judge: JudgeHealth | None = None
    """None when the run has no judge scores at all."""
    segments: dict[str, np.ndarray] = field(default_factory=dict)
    """Segment key -> the value of each request ('' when it has none)."""
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    """(metric, arm) -> a sentence about values counted as unknown (zero or missing costs)."""
    evidence: dict[str, str | None] = field(default_factory=dict)
    """Derived metric -> the metric it reads (quality -> judge_quality, action_f1 or reference_similarity)."""
    evidence_note: dict[str, str] = field(default_factory=dict)
    """Derived metric -> how its evidence was chosen, in words."""

    def __post_init__(self) -> None:
        if not self.evidence:
            resolve_evidence(self)

    @property
    def n(self) -> int:
        return len(self.clusters)

    @property
    def has_repeat(self) -> bool:
        return "prod_repeat" in self.arms

    def source_of(self, metric: str) -> str | None:
        """The metric whose values `metric` reads: itself, or the evidence chosen for a derived one."""
        return self.evidence.get(metric, metric) if metrics()[metric].evidence else metric

    def column(self, metric: str, arm: str) -> np.ndarray:
        source = self.source_of(metric)
        values = self.series.get((source, arm)) if source else None
        return values if values is not None else np.full(self.n, np.nan)

    def subset(self, mask: np.ndarray) -> GateInputs:
        return GateInputs(
            {k: v[mask] for k, v in self.series.items()}, self.clusters[mask], self.arms, self.judge,
            {k: v[mask] for k, v in self.segments.items()}, self.notes, self.evidence, self.evidence_note,
        )  # fmt: skip


def resolve_evidence(inputs: GateInputs) -> None:
    """For each derived metric, the first kind of evidence in its order that has data and can be
    trusted, and a sentence saying what was used and what was looked for (every sentence that
    uses the metric repeats it)."""
    known = metrics()
    for m in known.values():
        if not m.evidence:
            continue
        order = ", then ".join(known[e].evidence_label for e in m.evidence)
        skipped: list[str] = []
        chosen = None
        for name in m.evidence:
            source = known[name]
            if not any(np.isfinite(inputs.series.get((name, arm), np.array([]))).any() for arm in source.arms):
                skipped.append(f"no {source.evidence_label}")
            elif source.needs_judge and inputs.judge is not None and not inputs.judge.reliable:
                skipped.append(f"the {source.evidence_label} is unreliable")
            else:
                chosen = name
                break
        inputs.evidence[m.name] = chosen
        looked = f"evidence order: {order}"
        if chosen is None:
            inputs.evidence_note[m.name] = f"no evidence of {m.label} ({looked}; found {', '.join(skipped)})"
        else:
            why = f"; {', '.join(skipped)}" if skipped else ""
            inputs.evidence_note[m.name] = (f"{m.label.capitalize()} here is {known[chosen].label}"
                                            f" ({looked}{why}).")


def build_inputs(requests: pl.DataFrame, responses: pl.DataFrame, scores: pl.DataFrame,
                 diagnostics: pl.DataFrame | None, settings: GatesConfig) -> GateInputs:
    """GateInputs from the store's gate tables (gate_requests, gate_responses, gate_scores,
    judge_diagnostics), with quality resolved in its order of evidence."""
    index = requests.select("request_id").with_row_index("_i")
    n = requests.height
    series: dict[tuple[str, str], np.ndarray] = {}
    per_arm = responses.join(index, on="request_id")
    for m in metrics().values():
        for arm in m.arms:
            if m.response is not None:
                part = per_arm.filter(pl.col("arm") == arm).select("_i", pl.col(m.response).alias("v"))
            elif m.score is not None:
                part = scores.filter((pl.col("scorer") == m.score) & (pl.col("arm_b") == m.against)
                                     & (pl.col("arm_a") == arm)).join(index, on="request_id").select("_i", pl.col("value").alias("v"))
            else:
                continue
            part = part.drop_nulls("v")
            if part.height:
                values = np.full(n, np.nan)
                values[part["_i"].to_numpy()] = part["v"].cast(pl.Float64).to_numpy()
                series[(m.name, arm)] = values
    judge_scored = scores.filter(pl.col("scorer").is_in(["judge_quality", "judge_pairwise"])).height > 0
    key = "request_id" if settings.cluster_by == "none" else settings.cluster_by
    clusters = requests.select(pl.coalesce(key, "request_id"))[:, 0].to_numpy().astype(str)
    inputs = GateInputs(
        series, clusters, frozenset(responses["arm"].unique().to_list()),
        judge_health(diagnostics, settings) if judge_scored else None,
        _segments(requests["metadata"].to_list(), settings.segment_keys), _value_notes(responses),
    )  # fmt: skip
    return inputs


def judge_health(diagnostics: pl.DataFrame | None, settings: GatesConfig) -> JudgeHealth:
    """The judge's own diagnostics against the documented limits ([gates] judge_*)."""
    health = JudgeHealth()
    if diagnostics is None or diagnostics.is_empty():
        return health
    found = {m: (v, n) for m, v, n in diagnostics.select("metric", "value", "n").iter_rows()}
    consistency = found.get("swap_consistency")
    if consistency and consistency[0] is not None and consistency[1] >= 10 \
            and consistency[0] < settings.judge_min_swap_consistency:
        health.problems.append(f"only {consistency[0]:.0%} of its pairwise judgments agree when the answers swap"
                               f" places (at least {settings.judge_min_swap_consistency:.0%} needed)")
    repeat = found.get("prod_vs_repeat_win_rate")
    if repeat and repeat[0] is not None and repeat[1] >= 30 and abs(repeat[0] - 0.5) > settings.judge_max_repeat_bias:
        health.problems.append(f"it prefers prod over prod's own repeat in {repeat[0]:.0%} of pairs (a fair judge"
                               " of two equals says about 50%)")
    for metric, what in (("longer_answer_win_rate", "the longer answer wins"),
                         ("longer_answer_scored_higher", "the longer answer scores higher")):
        length = found.get(metric)
        if length and length[0] is not None and length[1] >= 30 and abs(length[0] - 0.5) > settings.judge_max_length_bias:
            health.problems.append(f"{what} in {length[0]:.0%} of its decisive judgments (its scores mostly follow"
                                   " answer length)")
    return health


def _value_notes(responses: pl.DataFrame) -> dict[tuple[str, str], str]:
    """Per arm, the answers whose cost or latency is unknown or was not believed, in words."""
    notes: dict[tuple[str, str], str] = {}
    totals = responses.group_by("arm").agg(pl.col("n").sum(), pl.col("n_ok").sum(), pl.col("cost_zero").sum(),
                                           pl.col("cost_missing").sum(), pl.col("cost_invalid").sum(),
                                           pl.col("latency_invalid").sum())
    for arm, n, n_ok, zero, missing, cost_bad, latency_bad in totals.iter_rows():
        parts = [f"{zero:,} reported a cost of 0" if zero else "", f"{missing:,} reported none" if missing else "",
                 f"{cost_bad:,} reported an invalid one (negative, not finite or absurd)" if cost_bad else ""]
        if any(parts):
            notes[("cost_usd", arm)] = (f"of {n_ok:,} successful {arm} answers, {', '.join(p for p in parts if p)}:"
                                        " a cost of 0 or none is unknown, not free, and invalid costs are not"
                                        " believed; they are left out")
        if latency_bad:
            notes[("latency_ms", arm)] = (f"{latency_bad:,} of {n:,} {arm} answers reported an invalid latency"
                                          " (negative, not finite or absurd), left out")
    return notes


def _segments(metadata: list[str | None], keys: list[str]) -> dict[str, np.ndarray]:
    """intent=refund_request, tier=pro, flags.new-checkout=true ...: object values split per entry."""
    parsed = [json.loads(m) if m else {} for m in metadata]
    segments: dict[str, list[str]] = {}
    for i, meta in enumerate(parsed):
        for key in keys:
            value = meta.get(key)
            entries: dict[str, Any] = (
                {f"{key}.{k}": v for k, v in value.items()} if isinstance(value, dict) else {key: value}
            )
            for name, v in entries.items():
                if v is None or isinstance(v, list | dict):
                    continue
                if name not in segments:  # not setdefault: its default list would be built every time
                    segments[name] = [""] * len(parsed)
                segments[name][i] = json.dumps(v) if isinstance(v, bool) else str(v)
    return {k: np.array(v, dtype=object) for k, v in segments.items()}
