"""The small protocol every scorer implements, and what a scoring pass hands to each one.

A scorer reads the run's responses and requests, returns new score rows (request_id,
scorer, arm_a, arm_b, value, details), and declares the metrics the gates can read from its
scores and the default checks on them. Scorers live one per file in harness/scoring/scorers/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from harness.metrics.definitions import CheckSpec, Metric

if TYPE_CHECKING:
    from harness.config import JudgeConfig, ScoringConfig, ToolsConfig
    from harness.pricing import PriceTable
    from harness.scoring.embeddings import Embedder
    from harness.store import Store

__all__ = ["Scorer", "ScoringContext", "SCORE_SCHEMA", "score_frame"]

SCORE_SCHEMA = pl.Schema({"request_id": pl.String, "scorer": pl.String, "arm_a": pl.String, "arm_b": pl.String,
                          "value": pl.Float64, "details": pl.String})


@dataclass
class ScoringContext:
    """Everything one scoring pass of one run gives its scorers."""

    store: Store
    run_id: str
    responses: pl.DataFrame
    """request_id, arm, sample, output, tool_calls, error_type, harness_cancelled: every response of the run."""
    requests: pl.DataFrame
    """request_id, input_text, metadata, reference_output, reference_tool_calls, reference_source."""
    have: pl.DataFrame
    """(request_id, scorer, arm_a, arm_b) of the scores the run already has."""
    scoring: ScoringConfig
    tools: ToolsConfig
    judge: JudgeConfig | None = None
    prices: PriceTable | None = None
    embedder: Embedder | None = None
    progress: bool = True
    figures: dict[str, Any] = field(default_factory=dict)
    """What scorers report back for the summary (texts encoded, judge calls, ...)."""

    def answered(self) -> pl.DataFrame:
        """Responses that are answers: everything but calls the harness itself cancelled (an agent
        that reports its own error type "cancelled" has answered, with an error)."""
        return self.responses.filter(~pl.col("harness_cancelled"))

    def successful(self) -> pl.DataFrame:
        return self.responses.filter(pl.col("error_type").is_null())


class Scorer(Protocol):
    """One kind of score. `produces` names the scorer column values it writes."""

    name: str
    produces: tuple[str, ...]
    metrics: tuple[Metric, ...]
    checks: tuple[CheckSpec, ...]
    order: int
    """Scorers run in this order (cheap ones first, the LLM judge last)."""

    def score(self, ctx: ScoringContext) -> pl.DataFrame | None:
        """New score rows (SCORE_SCHEMA) or None; rows the run already has are dropped by the caller."""
        ...


def score_frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """Score rows (request_id, scorer, arm_a, arm_b, value, details) as a frame of SCORE_SCHEMA."""
    return pl.DataFrame(rows, schema=SCORE_SCHEMA, orient="row")
