"""Shadow-diff on actions: does the arm's multiset of write actions differ from prod's?

Candidate vs prod, and prod_repeat vs prod (the noise floor), samples paired by index and
averaged. Details name the actions dropped and added per tool, for the per-tool findings
("candidate drops issue_refund on 238 requests, prod_repeat on 2").
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import polars as pl

from harness.metrics.definitions import CheckSpec, Metric
from harness.scoring.actions import actions_of, by_request_sample
from harness.scoring.base import ScoringContext, score_frame

__all__ = ["SCORER"]


class ActionChangedScorer:
    name = "action_changed"
    produces = ("action_changed",)
    order = 30
    metrics = (
        Metric("action_changed", "write-action change rate against prod", "rate", "higher", ("noise_gap",),
               ("candidate", "prod_repeat"), score="action_changed", against="prod", test="mcnemar",
               phrase="{who} changes prod's write actions {value} more often than prod changes its own"),
    )
    checks = (
        CheckSpec("actions_vs_noise", "action_changed", "noise_gap", 0.05, "max", "warning",
                  "candidate changes prod's write actions at most 5 points more often than prod changes its own"),
    )

    def score(self, ctx: ScoringContext) -> pl.DataFrame | None:
        classifier, normalizer = ctx.tools.classifier(), ctx.tools.normalizer()
        answered = ctx.answered()
        prod = by_request_sample(answered.filter(pl.col("arm") == "prod"))
        rows: list[tuple[Any, ...]] = []
        for arm in ("candidate", "prod_repeat"):
            per_request: dict[str, list[tuple[float, Counter[str], Counter[str]]]] = {}
            for (rid, sample), calls in by_request_sample(answered.filter(pl.col("arm") == arm)).items():
                if (rid, sample) not in prod:
                    continue
                mine = Counter(actions_of(calls, classifier, normalizer))
                theirs = Counter(actions_of(prod[(rid, sample)], classifier, normalizer))
                dropped = Counter(name for name, _ in (theirs - mine).elements())
                added = Counter(name for name, _ in (mine - theirs).elements())
                per_request.setdefault(rid, []).append((float(mine != theirs), dropped, added))
            for rid, samples in per_request.items():
                dropped_all: Counter[str] = sum((s[1] for s in samples), Counter())
                added_all: Counter[str] = sum((s[2] for s in samples), Counter())
                details = json.dumps({"dropped": dict(sorted(dropped_all.items())),
                                      "added": dict(sorted(added_all.items())), "samples": len(samples)})
                rows.append((rid, "action_changed", arm, "prod", sum(s[0] for s in samples) / len(samples), details))
        return score_frame(rows) if rows else None


SCORER = ActionChangedScorer()
