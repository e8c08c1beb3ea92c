"""Who encodes the texts the embedding cache lacks: this process, or a Ray cluster (harness.scoring.ray_executor).

An executor (harness.scoring.embeddings.Executor) takes (hashes, texts) and yields (hashes, vectors) batches as they are ready, in any
order, each hash exactly once; the caller caches each batch as it arrives.
"""

from __future__ import annotations

from harness.config import ScoringConfig
from harness.scoring.embeddings import Embedder, Executor, LocalExecutor

__all__ = ["make_executor"]

def make_executor(scoring: ScoringConfig, embedder: Embedder) -> Executor:
    """The executor the config asks for; "ray" imports Ray only now."""
    if scoring.executor == "ray":
        from harness.scoring.ray_executor import RayExecutor

        return RayExecutor(embedder, address=scoring.ray_address, concurrency=scoring.concurrency,
                           num_gpus=scoring.num_gpus)
    return LocalExecutor(embedder)
