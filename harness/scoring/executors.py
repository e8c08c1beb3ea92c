"""Who encodes the texts the embedding cache lacks: this process, or a Ray cluster (harness.scoring.ray_executor).

An executor takes (hashes, texts) and yields (hashes, vectors) batches as they are ready, in any
order, each hash exactly once; the caller caches each batch as it arrives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from harness.config import ScoringConfig
from harness.scoring.embeddings import Embedder

__all__ = ["Executor", "LocalExecutor", "make_executor"]

_CHUNK = 1024  # texts encoded (and cached) per step: a killed scoring keeps what it encoded


class Executor(Protocol):
    def encode(self, hashes: Sequence[str], texts: Sequence[str]) -> Iterator[tuple[list[str], np.ndarray]]: ...


class LocalExecutor:
    """The embedder of this process, a chunk of texts at a time."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def encode(self, hashes: Sequence[str], texts: Sequence[str]) -> Iterator[tuple[list[str], np.ndarray]]:
        for start in range(0, len(hashes), _CHUNK):
            yield list(hashes[start : start + _CHUNK]), self.embedder.encode(texts[start : start + _CHUNK])


def make_executor(scoring: ScoringConfig, embedder: Embedder) -> Executor:
    """The executor the config asks for; "ray" imports Ray only now."""
    if scoring.executor == "ray":
        from harness.scoring.ray_executor import RayExecutor

        return RayExecutor(embedder, address=scoring.ray_address, concurrency=scoring.concurrency,
                           num_gpus=scoring.num_gpus)
    return LocalExecutor(embedder)
