"""Scoring: embedding similarity against the noise floor, LLM-judge quality, tool-call checks.

Names are imported on first use: the metric registry reads the scorers without loading the embedder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness._lazy import lazy_names

if TYPE_CHECKING:
    from harness.scoring.embeddings import DEFAULT_MODEL, Embedder
    from harness.scoring.run import ScoreSummary, score_run

__all__ = ["DEFAULT_MODEL", "Embedder", "ScoreSummary", "score_run"]

__getattr__ = lazy_names(__name__, {
    "DEFAULT_MODEL": "harness.scoring.embeddings", "Embedder": "harness.scoring.embeddings",
    "ScoreSummary": "harness.scoring.run", "score_run": "harness.scoring.run",
})  # fmt: skip
