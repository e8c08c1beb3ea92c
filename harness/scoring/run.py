"""Score a run: embeddings, reference and behaviour checks, and the LLM judge when configured.

Incremental: only the scores a run lacks are computed, cached embeddings and judgments are
reused, and every stage writes as it goes, so a killed scoring resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from harness.config import JudgeConfig, ScoringConfig
from harness.pricing import PriceTable
from harness.progress import console
from harness.scoring.embeddings import Embedder, embed_texts
from harness.scoring.executors import make_executor
from harness.scoring.reference import tool_behaviour_scores, tool_reference_scores
from harness.scoring.similarity import similarity_pairs, similarity_scores
from harness.store import Store

__all__ = ["ScoreSummary", "score_run"]

_KEY = ["request_id", "scorer", "arm_a", "arm_b"]


@dataclass
class ScoreSummary:
    """What a scoring pass did and the headline figures it found."""

    run_id: str
    embedding_model: str
    new_scores: int = 0
    texts_encoded: int = 0
    texts_cached: int = 0
    judge: dict[str, Any] | None = None
    """Judge stats, or None when no [judge] is configured (then there is no judge quality figure)."""
    means: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def mean(self, scorer: str, arm_a: str, arm_b: str) -> float | None:
        for row in self.means:
            if (row["scorer"], row["arm_a"], row["arm_b"]) == (scorer, arm_a, arm_b):
                return row["mean"]
        return None


def score_run(
    store: Store,
    run_id: str,
    *,
    scoring: ScoringConfig | None = None,
    judge: JudgeConfig | None = None,
    prices: PriceTable | None = None,
    embedder: Embedder | None = None,
    progress: bool = True,
) -> ScoreSummary:
    """Compute what is missing among a run's scores, store it, and summarize the run's scores."""
    started = time.monotonic()
    scoring = scoring or ScoringConfig()
    embedder = embedder or Embedder.from_config(scoring)
    store.run(run_id)  # NotFoundError for an unknown run
    # One character more than the cap, so that what was cut is still recognisable as cut downstream.
    responses = store.scoring_responses(run_id, scoring.max_text_chars + 1)
    requests = store.scoring_requests(run_id, scoring.reference_variant, scoring.max_text_chars + 1)
    have = store.score_keys(run_id)
    summary = ScoreSummary(run_id, embedder.model)

    wanted = _missing(similarity_pairs(responses, requests).with_columns(pl.lit("similarity").alias("scorer")), have)
    if wanted.height:
        needed = _texts_for(wanted, responses, requests)
        embedded = embed_texts(store, embedder, needed, executor=make_executor(scoring, embedder),
                               max_chars=scoring.max_text_chars, progress=progress)
        summary.texts_encoded, summary.texts_cached = embedded.encoded, embedded.cached
        rows = similarity_scores(wanted.drop("scorer"), responses, requests, embedded.index, embedded.vectors,
                                 max_chars=scoring.max_text_chars)
        store.save_scores(run_id, rows)
        summary.new_scores += rows.height

    for rows in (tool_reference_scores(responses, requests), tool_behaviour_scores(responses)):
        rows = rows.join(have, on=_KEY, how="anti")
        if rows.height:
            store.save_scores(run_id, rows)
            summary.new_scores += rows.height

    if judge is not None:
        summary.judge = _judge(store, run_id, responses, requests, judge, scoring,
                               prices or PriceTable.with_overrides({}), progress)
    summary.means = store.score_means(run_id).to_dicts()
    summary.elapsed_s = time.monotonic() - started
    store.save_scoring_run(
        run_id,
        {"embedding_model": embedder.model, "backend": embedder.backend, "executor": scoring.executor,
         "device": scoring.device, "max_text_chars": scoring.max_text_chars,
         "judge_model": judge.model if judge else None, "reference_variant": scoring.reference_variant},
        {"new_scores": summary.new_scores, "texts_encoded": summary.texts_encoded, "judge": summary.judge},
    )  # fmt: skip
    return summary


def _missing(candidates: pl.DataFrame, have: pl.DataFrame) -> pl.DataFrame:
    return candidates.select(_KEY).join(have, on=_KEY, how="anti")


def _texts_for(wanted: pl.DataFrame, responses: pl.DataFrame, requests: pl.DataFrame) -> list[str]:
    """Distinct texts behind the wanted pairs: the outputs of both arms and the references."""
    ids = wanted.select("request_id").unique()
    arms = pl.concat([wanted.select(pl.col("arm_a").alias("arm")), wanted.select(pl.col("arm_b").alias("arm"))]).unique()
    outputs = responses.join(ids, on="request_id").join(arms, on="arm").filter(
        pl.col("error_type").is_null() & pl.col("output").is_not_null())["output"]
    references = requests.join(ids, on="request_id")["reference_output"].drop_nulls()
    return pl.concat([outputs, references]).unique(maintain_order=True).to_list()


def _judge(store: Store, run_id: str, responses: pl.DataFrame, requests: pl.DataFrame, judge: JudgeConfig,
           scoring: ScoringConfig, prices: PriceTable, progress: bool) -> dict[str, Any]:
    """Judge what is not judged yet, then derive judge scores and diagnostics from all judgments."""
    from harness.scoring.judge import build_tasks, run_judge
    from harness.scoring.judge_stats import judge_diagnostics, judge_scores

    done = store.judgments(run_id).filter(pl.col("error_type").is_null())
    done_keys = set(done.select("request_id", "kind", "arm_a", "arm_b", "sample", "order").iter_rows())
    tasks = [t for t in build_tasks(responses, requests, judge, scoring.max_text_chars)
             if (t.request_id, t.kind, t.arm_a, t.arm_b, t.sample, t.order) not in done_keys]
    stats = asyncio.run(run_judge(tasks, judge, prices, _StoreJudgeCache(store),
                                  lambda rows: store.save_judgments(run_id, rows), progress=progress))
    judgments = store.judgments(run_id)
    store.save_scores(run_id, judge_scores(judgments), replace_scorers=["judge_quality", "judge_pairwise"])
    store.save_judge_diagnostics(run_id, judge_diagnostics(judgments, requests, responses, scoring))
    if stats.n_errors:
        console.print(f"[yellow]judge: {stats.n_errors} of {stats.n_tasks} judgments failed; "
                      "rerun `harness score` to retry them[/]")
    return {"model": judge.model, "tasks": stats.n_tasks, "cached": stats.n_cached, "called": stats.n_called,
            "errors": stats.n_errors, "cost_usd": stats.cost_usd}


class _StoreJudgeCache:
    """The judge's cache, kept in the store's judge_cache table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def lookup(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return self._store.judge_cache_lookup(keys) if keys else {}

    def save(self, rows: list[dict[str, Any]]) -> None:
        self._store.save_judge_cache(rows)
