"""The LLM judge as a scorer: pointwise 1-10 quality and swapped pairwise preference.

Runs only with a `[judge]` section. What is not judged yet is judged (cached judgments are
reused), then judge scores and the judge's own diagnostics are derived from all judgments;
the gates read those diagnostics to decide whether the judge is reliable enough to count.
"""

from __future__ import annotations

import asyncio
from typing import Any

import polars as pl

from harness.metrics.definitions import CheckSpec, Metric
from harness.progress import console
from harness.records import ARMS
from harness.scoring.base import ScoringContext

__all__ = ["SCORER"]


class JudgeScorer:
    name = "judge"
    produces = ("judge_quality", "judge_pairwise")
    order = 90
    metrics = (
        Metric("judge_quality", "LLM-judge quality", "score", "lower", ("mean", "diff"), ARMS,
               score="judge_quality", against="", needs_judge=True, evidence_label="LLM judge"),
        Metric("judge_pairwise", "judge net win rate against prod", "score", "lower", ("net",),
               ("candidate", "prod_repeat"), score="judge_pairwise", against="prod", test="sign", needs_judge=True,
               phrase="judge net win rate of {who} against prod {value}"),
    )
    checks = (
        CheckSpec("judge_win_rate", "judge_pairwise", "net", -0.10, "min", "critical",
                  "judge net win rate against prod (positions swapped) at least -0.10"),
    )

    def score(self, ctx: ScoringContext) -> pl.DataFrame | None:
        if ctx.judge is None:
            return None
        from harness.pricing import PriceTable
        from harness.scoring.judge import build_tasks, judge_diagnostics, judge_scores, run_judge

        store, run_id, judge = ctx.store, ctx.run_id, ctx.judge
        done = store.judgments(run_id).filter(pl.col("error_type").is_null())
        done_keys = set(done.select("request_id", "kind", "arm_a", "arm_b", "sample", "order").iter_rows())
        tasks = [t for t in build_tasks(ctx.successful(), ctx.requests, judge, ctx.scoring.max_text_chars)
                 if (t.request_id, t.kind, t.arm_a, t.arm_b, t.sample, t.order) not in done_keys]
        stats = asyncio.run(run_judge(tasks, judge, ctx.prices or PriceTable.with_overrides({}), _StoreJudgeCache(store),
                                      lambda rows: store.save_judgments(run_id, rows), progress=ctx.progress))
        judgments = store.judgments(run_id)
        store.save_scores(run_id, judge_scores(judgments), replace_scorers=list(self.produces))
        store.save_judge_diagnostics(run_id, judge_diagnostics(judgments, ctx.requests, ctx.successful(), ctx.scoring))
        if stats.n_errors:
            console.print(f"[yellow]judge: {stats.n_errors} of {stats.n_tasks} judgments failed; "
                          "rerun `harness score` to retry them[/]")
        ctx.figures["judge"] = {"model": judge.model, "tasks": stats.n_tasks, "cached": stats.n_cached,
                                "called": stats.n_called, "errors": stats.n_errors, "cost_usd": stats.cost_usd}
        return None


class _StoreJudgeCache:
    """The judge's cache, kept in the store's judge_cache table."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def lookup(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return self._store.judge_cache_lookup(keys) if keys else {}

    def save(self, rows: list[dict[str, Any]]) -> None:
        self._store.save_judge_cache(rows)


SCORER = JudgeScorer()
