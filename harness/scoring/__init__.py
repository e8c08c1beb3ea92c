"""Scoring: embedding similarity against the noise floor, LLM-judge quality, tool-call checks."""

from harness.scoring.embeddings import DEFAULT_MODEL, Embedder
from harness.scoring.run import ScoreSummary, score_run

__all__ = ["DEFAULT_MODEL", "Embedder", "ScoreSummary", "score_run"]
