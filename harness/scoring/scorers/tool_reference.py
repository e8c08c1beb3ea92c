"""Tool calls against the reference's: precision, recall and F1 by name and by name + arguments.

Every call counts here, read or write (the action scorers look at writes only). The
reference is the request's own `reference.tool_calls`, or a captured variant's calls when
`[scoring] reference_variant` opts in. Arguments compare under the `[tools.arguments]` rules.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from harness.metrics.definitions import Metric
from harness.records import ARMS
from harness.scoring.actions import calls_of, prf
from harness.scoring.base import ScoringContext, score_frame
from harness.tools import ArgumentNormalizer

__all__ = ["SCORER", "tool_match"]


def tool_match(predicted: str | None, expected: str | None,
               normalizer: ArgumentNormalizer | None = None) -> dict[str, float]:
    """All reference metrics for one response's tool calls against one reference's."""
    normalizer = normalizer or ArgumentNormalizer()
    got, want = calls_of(predicted, normalizer), calls_of(expected, normalizer)
    p_name, r_name, f_name = prf((n for n, _ in got), (n for n, _ in want))
    p_args, r_args, f_args = prf(got, want)
    return {
        "precision_name": p_name, "recall_name": r_name, "f1_name": f_name,
        "precision_args": p_args, "recall_args": r_args, "f1_args": f_args,
        "sequence_match": float([n for n, _ in got] == [n for n, _ in want]),
    }  # fmt: skip


class ToolReferenceScorer:
    name = "tool_reference"
    produces = ("tool_f1_name", "tool_f1_args", "tool_sequence_match")
    order = 20
    metrics = (
        Metric("tool_f1_args", "tool-call F1 against the reference (name and arguments)", "score", "lower",
               ("mean", "diff"), ARMS, score="tool_f1_args", against="reference"),
    )
    checks = ()

    def score(self, ctx: ScoringContext) -> pl.DataFrame | None:
        refs = ctx.requests.filter(pl.col("reference_tool_calls").is_not_null()).select(
            "request_id", "reference_tool_calls", "reference_source")
        joined = ctx.successful().join(refs, on="request_id")
        if not joined.height:
            return None
        normalizer = ctx.tools.normalizer()
        per_response = [
            {"request_id": r["request_id"], "arm": r["arm"], "source": r["reference_source"],
             **tool_match(r["tool_calls"], r["reference_tool_calls"], normalizer)}
            for r in joined.iter_rows(named=True)
        ]  # fmt: skip
        metrics = pl.DataFrame(per_response).group_by("request_id", "arm").agg(
            pl.col("source").first(), pl.exclude("source").mean())
        rows: list[tuple[Any, ...]] = []
        for r in metrics.iter_rows(named=True):
            details = json.dumps({k: round(v, 6) for k, v in r.items() if k.startswith(("precision", "recall"))}
                                 | {"source": r["source"]})
            for scorer, key in (("tool_f1_name", "f1_name"), ("tool_f1_args", "f1_args"),
                                ("tool_sequence_match", "sequence_match")):
                rows.append((r["request_id"], scorer, r["arm"], "reference", r[key], details))
        return score_frame(rows)


SCORER = ToolReferenceScorer()
