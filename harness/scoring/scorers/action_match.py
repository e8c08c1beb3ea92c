"""Task success: the response's write actions are exactly the reference's (a multiset, arguments
normalized). A reference with `tool_calls: []` means "the right outcome is to change nothing"
and is scored; a reference without a `tool_calls` key gets no score.

Every answer counts, errors included (an agent that failed before issuing the expected refund
did not issue it); only calls the harness itself cancelled are left out. With K samples the
score is the share of samples that succeed. Details keep, per expected tool, the share of its
expected actions the arm made, for the per-tool findings.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import polars as pl

from harness.metrics.definitions import CheckSpec, Metric
from harness.records import ARMS
from harness.scoring.actions import Action, actions_of
from harness.scoring.base import ScoringContext, score_frame

__all__ = ["SCORER", "reference_actions"]


def reference_actions(ctx: ScoringContext) -> dict[str, list[Action]]:
    """request_id -> the reference's write actions, for requests whose reference names its tool calls."""
    classifier, normalizer = ctx.tools.classifier(), ctx.tools.normalizer()
    refs = ctx.requests.filter(pl.col("reference_tool_calls").is_not_null())
    return {rid: actions_of(calls, classifier, normalizer)
            for rid, calls in refs.select("request_id", "reference_tool_calls").iter_rows()}


def _per_tool_hits(got: list[Action], expected: list[Action]) -> dict[str, float]:
    """Per expected tool: the share of its expected actions that were made."""
    made = Counter(got)
    per_tool: dict[str, list[float]] = {}
    for action, count in Counter(expected).items():
        per_tool.setdefault(action[0], []).append(min(made[action], count) / count)
    return {tool: sum(v) / len(v) for tool, v in per_tool.items()}


class ActionMatchScorer:
    name = "action_match"
    produces = ("action_match",)
    order = 30
    metrics = (
        Metric("action_match", "task success (write actions equal to the reference's)", "rate", "lower",
               ("rate", "diff"), ARMS, score="action_match", against="reference", test="mcnemar",
               evidence_label="reference actions"),
    )
    checks = (
        CheckSpec("task_success_delta", "action_match", "diff", -0.05, "min", "critical",
                  "candidate's task success (write actions equal to the reference's) at most 5 points below prod's"),
    )

    def score(self, ctx: ScoringContext) -> pl.DataFrame | None:
        expected = reference_actions(ctx)
        if not expected:
            return None
        classifier, normalizer = ctx.tools.classifier(), ctx.tools.normalizer()
        samples: dict[tuple[str, str], list[tuple[float, dict[str, float]]]] = {}
        answered = ctx.answered().filter(pl.col("request_id").is_in(list(expected)))
        for rid, arm, calls in answered.select("request_id", "arm", "tool_calls").iter_rows():
            want = expected[rid]
            got = actions_of(calls, classifier, normalizer)
            samples.setdefault((rid, arm), []).append((float(Counter(got) == Counter(want)), _per_tool_hits(got, want)))
        rows: list[tuple[Any, ...]] = []
        for (rid, arm), results in samples.items():
            tools = sorted({t for _, hits in results for t in hits})
            details = {"expected_tools": tools,
                       "tool_hits": {t: sum(h.get(t, 0.0) for _, h in results) / len(results) for t in tools},
                       "samples": len(results)}
            rows.append((rid, "action_match", arm, "reference", sum(v for v, _ in results) / len(results),
                         json.dumps(details)))
        return score_frame(rows)


SCORER = ActionMatchScorer()
