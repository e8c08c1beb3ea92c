"""The three ways to run the embedding model: torch, ONNX Runtime (float32) and ONNX Runtime int8.

Each is a sentence-transformers model underneath: the ONNX encoders keep its tokenizer (with its
truncation) and its pooling and normalization modules, and only swap the transformer's forward pass
for an ONNX Runtime session, so vectors agree with torch's to float precision (int8: within 0.01).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from harness.errors import ConfigError

__all__ = ["BACKENDS", "Encoder", "OnnxEncoder", "TorchEncoder", "load_encoder"]

BACKENDS = ("torch", "onnx", "onnx-int8")


class Encoder(Protocol):
    """Turns texts into unit-length float32 vectors, one row per text."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class TorchEncoder:
    """sentence-transformers' own `encode` on torch."""

    def __init__(self, model: Any, batch_size: int) -> None:
        self.model = model
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


class OnnxEncoder:
    """sentence-transformers' tokenizer and pooling around an ONNX Runtime session of its transformer.

    The session runs single-threaded on each of `threads` worker threads (default: one per CPU), a
    batch each, while the calling thread tokenizes the next: on a small CPU, ONNX Runtime spreads one
    batch over its threads much less well than this spreads batches over the cores.
    """

    def __init__(self, model: Any, path: Path, batch_size: int, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            raise ConfigError(f"cannot load the cached ONNX model {path}: {exc} (delete that directory to export"
                              " it again)") from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.model = model
        self.batch_size = batch_size
        self.pool = ThreadPoolExecutor(threads or os.cpu_count() or 1, thread_name_prefix="onnx")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        # Most tokens first (see _token_counts), so each batch pads little.
        order = sorted(range(len(texts)), key=self._token_counts(texts).__getitem__, reverse=True)
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        running = [(rows, self.pool.submit(self._forward, self.model.preprocess([texts[i] for i in rows])))
                   for rows in batches]  # the tokenizer stays on this thread: it is not safe to share
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for rows, future in running:
            vectors = future.result()
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    def _token_counts(self, texts: Sequence[str]) -> list[int]:
        """Each text's token count (truncated as the model truncates), to order texts by: batches of
        similar token counts pad less than sentence-transformers' order by characters (on the demo's
        texts, batches of 64 held 20% more positions than tokens by characters, 1% by token count),
        and a padded position costs the transformer as much as a token. Only the order depends on
        these counts: each batch is tokenized again by the model's own preprocessing."""
        if not texts:  # the tokenizer refuses an empty batch
            return []
        encoded = self.model.tokenizer(list(texts), truncation=True, max_length=self.model.max_seq_length,
                                       return_attention_mask=False, return_token_type_ids=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def _forward(self, features: dict[str, Any]) -> np.ndarray:
        """One tokenized batch through the session, then the model's pooling (and normalization) modules."""
        import torch

        hidden = self.session.run(None, {name: features[name].numpy() for name in self.inputs})[0]
        features["token_embeddings"] = torch.from_numpy(hidden)
        with torch.no_grad():
            for module in list(self.model)[1:]:
                features = module(features)
        return np.asarray(features["sentence_embedding"].numpy(), dtype=np.float32)


def load_encoder(location: str, backend: str, device: str, batch_size: int, cache_root: Path,
                 threads: int | None = None) -> Encoder:
    """Load the model at `location` for `backend` on `device` (already resolved); ConfigError when it cannot."""
    from sentence_transformers import SentenceTransformer

    if backend != "torch" and device != "cpu":
        raise ConfigError(f"scoring.backend = {backend!r} runs on the CPU; on a GPU use backend = \"torch\"")
    if threads:
        import torch

        torch.set_num_threads(threads)
    model = SentenceTransformer(location, device=device)
    if backend == "torch":
        return TorchEncoder(model, batch_size)
    try:
        import onnx  # noqa: F401 - the export and the quantizer need both
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError(f'scoring.backend = "{backend}" needs ONNX Runtime: pip install "harness[onnx]"') from None
    from harness.scoring.onnx_export import exported_model

    return OnnxEncoder(model, exported_model(model, backend, cache_root), batch_size, threads)
