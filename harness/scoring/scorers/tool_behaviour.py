"""Shadow-diff style: did the candidate's set or sequence of tool calls change from prod's?

Candidate vs prod and prod_repeat vs prod, samples paired by index and averaged: a change
that prod_repeat also shows against prod is noise, and the check compares the two rates.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from harness.metrics.definitions import CheckSpec, Metric
from harness.scoring.actions import by_request_sample, calls_of
from harness.scoring.base import ScoringContext, score_frame

__all__ = ["SCORER"]


class ToolBehaviourScorer:
    name = "tool_behaviour"
    produces = ("tool_set_changed", "tool_sequence_changed")
    order = 20
    metrics = (
        Metric("tool_behaviour", "tool-set change rate against prod", "rate", "higher", ("noise_gap",),
               ("candidate", "prod_repeat"), score="tool_set_changed", against="prod", test="mcnemar",
               phrase="{who} changes prod's tool set {value} more often than prod changes its own"),
    )
    checks = (
        CheckSpec("tool_behaviour", "tool_behaviour", "noise_gap", 0.05, "max", "warning",
                  "candidate changes prod's tool calls at most 5 points more often than prod changes its own"),
    )

    def score(self, ctx: ScoringContext) -> pl.DataFrame | None:
        ok = ctx.successful()
        normalizer = ctx.tools.normalizer()
        prod = by_request_sample(ok.filter(pl.col("arm") == "prod"))
        rows: list[tuple[Any, ...]] = []
        for arm in ("candidate", "prod_repeat"):
            changes: dict[str, list[tuple[float, float, set[str], set[str]]]] = {}
            for (request_id, sample), calls in by_request_sample(ok.filter(pl.col("arm") == arm)).items():
                if (request_id, sample) not in prod:
                    continue
                mine = [n for n, _ in calls_of(calls, normalizer)]
                theirs = [n for n, _ in calls_of(prod[(request_id, sample)], normalizer)]
                changes.setdefault(request_id, []).append(
                    (float(set(mine) != set(theirs)), float(mine != theirs), set(mine) - set(theirs),
                     set(theirs) - set(mine)))
            for request_id, samples in changes.items():
                added = sorted(set().union(*(s[2] for s in samples)))
                removed = sorted(set().union(*(s[3] for s in samples)))
                details = json.dumps({"added": added, "removed": removed})
                n = len(samples)
                rows.append((request_id, "tool_set_changed", arm, "prod", sum(s[0] for s in samples) / n, details))
                rows.append((request_id, "tool_sequence_changed", arm, "prod", sum(s[1] for s in samples) / n, details))
        return score_frame(rows) if rows else None


SCORER = ToolBehaviourScorer()
