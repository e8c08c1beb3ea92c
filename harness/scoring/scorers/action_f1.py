"""F1 of the response's write actions against the reference's, on normalized (name, arguments).

Graded where task success is all or nothing: an agent that issues the right refund but also
an extra one scores 0.67, not 0. Both empty (nothing expected, nothing done) is 1. The same
answers count as for task success (errors included, harness cancellations left out).
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from harness.metrics.definitions import CheckSpec, Metric
from harness.records import ARMS
from harness.scoring.actions import actions_of, prf
from harness.scoring.base import ScoringContext, score_frame
from harness.scoring.scorers.action_match import reference_actions

__all__ = ["SCORER"]


class ActionF1Scorer:
    name = "action_f1"
    produces = ("action_f1",)
    order = 30
    metrics = (
        Metric("action_f1", "write-action F1 against the reference", "score", "lower", ("mean", "diff"), ARMS,
               score="action_f1", against="reference", evidence_label="reference actions"),
    )
    checks = (
        CheckSpec("action_f1_delta", "action_f1", "diff", -0.05, "min", "critical",
                  "candidate's write-action F1 against the reference at most 0.05 below prod's"),
    )

    def score(self, ctx: ScoringContext) -> pl.DataFrame | None:
        expected = reference_actions(ctx)
        if not expected:
            return None
        classifier, normalizer = ctx.tools.classifier(), ctx.tools.normalizer()
        samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        answered = ctx.answered().filter(pl.col("request_id").is_in(list(expected)))
        for rid, arm, calls in answered.select("request_id", "arm", "tool_calls").iter_rows():
            samples.setdefault((rid, arm), []).append(prf(actions_of(calls, classifier, normalizer), expected[rid]))
        rows: list[tuple[Any, ...]] = []
        for (rid, arm), results in samples.items():
            n = len(results)
            precision, recall, f1 = (sum(r[i] for r in results) / n for i in range(3))
            details = json.dumps({"precision": round(precision, 6), "recall": round(recall, 6), "samples": n})
            rows.append((rid, "action_f1", arm, "reference", f1, details))
        return score_frame(rows)


SCORER = ActionF1Scorer()
