"""Score a run: every registered scorer, in order, on what the run does not have yet.

Incremental: only the scores a run lacks are computed, cached embeddings and judgments are
reused, and every scorer's rows are written as soon as it finishes, so a killed scoring
resumes where it stopped. The tool classes used by the action scorers are stored with the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from harness.config import JudgeConfig, ScoringConfig, ToolsConfig
from harness.pricing import PriceTable
from harness.scoring.base import ScoringContext
from harness.scoring.embeddings import Embedder
from harness.scoring.scorers import all_scorers
from harness.store import Store
from harness.tools import normalized_calls

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
    reference_variant: str | None = None
    """The captured variant whose tool calls stood in for missing references (opt-in), or None."""
    tool_classes: list[dict[str, str]] = field(default_factory=list)
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
    tools: ToolsConfig | None = None,
    prices: PriceTable | None = None,
    embedder: Embedder | None = None,
    progress: bool = True,
) -> ScoreSummary:
    """Compute what is missing among a run's scores, store it, and summarize the run's scores."""
    started = time.monotonic()
    scoring = scoring or ScoringConfig()
    tools = tools or ToolsConfig()
    embedder = embedder or Embedder.from_config(scoring)
    store.run(run_id)  # NotFoundError for an unknown run
    # One character more than the cap, so that what was cut is still recognisable as cut downstream.
    ctx = ScoringContext(
        store=store, run_id=run_id, responses=store.scoring_responses(run_id, scoring.max_text_chars + 1),
        requests=store.scoring_requests(run_id, scoring.reference_variant, scoring.max_text_chars + 1),
        have=store.score_keys(run_id), scoring=scoring, tools=tools, judge=judge, prices=prices, embedder=embedder,
        progress=progress,
    )  # fmt: skip
    summary = ScoreSummary(run_id, embedder.model, reference_variant=scoring.reference_variant)
    for scorer in all_scorers():
        rows = scorer.score(ctx)
        if rows is None:
            continue
        rows = rows.join(ctx.have, on=_KEY, how="anti")
        if rows.height:
            store.save_scores(run_id, rows)
            summary.new_scores += rows.height
    summary.texts_encoded = ctx.figures.get("texts_encoded", 0)
    summary.texts_cached = ctx.figures.get("texts_cached", 0)
    summary.judge = ctx.figures.get("judge")
    summary.tool_classes = _tool_classes(ctx)
    store.save_tool_classes(run_id, summary.tool_classes)
    summary.means = store.score_means(run_id).to_dicts()
    summary.elapsed_s = time.monotonic() - started
    store.save_scoring_run(
        run_id,
        {"embedding_model": embedder.model, "backend": embedder.backend, "executor": scoring.executor,
         "device": scoring.device, "max_text_chars": scoring.max_text_chars,
         "judge_model": judge.model if judge else None, "reference_variant": scoring.reference_variant,
         "tools": tools.model_dump(mode="json")},
        {"new_scores": summary.new_scores, "texts_encoded": summary.texts_encoded, "judge": summary.judge},
    )  # fmt: skip
    return summary


def _tool_classes(ctx: ScoringContext) -> list[dict[str, str]]:
    """Every tool the run's responses and references call, with its class and the rule that decided."""
    classifier = ctx.tools.classifier()
    normalizer = ctx.tools.normalizer()
    names: set[str] = set()
    texts = pl.concat([ctx.responses["tool_calls"], ctx.requests["reference_tool_calls"]]).drop_nulls().unique()
    for text in texts.to_list():
        names.update(name for name, _ in normalized_calls(text, normalizer))
    rows = []
    for name in sorted(names):
        cls, rule = classifier.classify(name)
        rows.append({"tool": name, "class": cls, "rule": rule})
    return rows
