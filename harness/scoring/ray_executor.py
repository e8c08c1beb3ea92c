"""Encode texts on a Ray cluster: a Ray Data actor pool, each actor holding the model, a block of texts per call.

Why it looks like this:
- Ray Data's `map_batches` with a class keeps one loaded model per actor and streams: blocks go
  out as actors free up and vectors come back to the driver as they are done, so the driver holds a
  batch, not the job. The caller caches every batch, so a killed scoring resumes from the cache.
- Fault tolerance is Ray's: map_batches actors restart without limit and their tasks are retried,
  so a worker (or node) lost mid-job costs only its in-flight blocks, which run again elsewhere.
  The pool is `(1, concurrency)`, so it can shrink to what the surviving nodes can run.
- Ray is an optional extra (`pip install harness[ray]`), imported only here and only when used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from harness.errors import ConfigError, HarnessError, ScoringError
from harness.scoring.embeddings import Embedder

__all__ = ["EncodeActor", "RayExecutor"]

_INIT_DEATHS = 3


class EncodeActor:
    """A Ray Data UDF: one embedder per actor, loaded once, encoding one block (text_hash, text) per call.

    Ray Data builds it without arguments; `bound(settings)` makes the subclass that carries them
    (pickled with the class), so every restart of an actor rebuilds the same embedder.
    """

    settings: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self.embedder = Embedder(**self.settings)
        self.embedder.encode(["warm up"])  # load (and, the first time anywhere, export) before taking work

    @classmethod
    def bound(cls, settings: dict[str, Any]) -> type[EncodeActor]:
        return type(cls.__name__, (cls,), {"settings": dict(settings)})

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.encode([str(t) for t in batch["text"]])
        return {"text_hash": batch["text_hash"], "vector": vectors}


class RayExecutor:
    """Encode through a Ray cluster at `address` with up to `concurrency` model actors."""

    def __init__(self, embedder: Embedder, *, address: str = "auto", concurrency: int = 2, num_gpus: float = 0.0,
                 num_cpus: float = 1.0, block_size: int = 256) -> None:
        self.embedder = embedder
        self.address = address
        self.concurrency = concurrency
        self.num_gpus = num_gpus
        self.num_cpus = num_cpus
        self.block_size = block_size

    def encode(self, hashes: Sequence[str], texts: Sequence[str]) -> Iterator[tuple[list[str], np.ndarray]]:
        if not hashes:
            return
        ray = _import_ray()
        import pyarrow as pa

        started = self._connect(ray)
        quiet = logging.getLogger("ray.data")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # the harness shows its own progress; Ray Data's notes go to its logs
        try:
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False
            context.print_on_execution_start = False
            # A node lost while its actor loads the model is not a broken UDF; a ConfigError in every
            # actor still ends the job after a few tries.
            context.max_consecutive_actor_init_deaths = _INIT_DEATHS
            blocks = [pa.table({"text_hash": list(hashes[i : i + self.block_size]),
                                "text": list(texts[i : i + self.block_size])})
                      for i in range(0, len(hashes), self.block_size)]  # fmt: skip
            settings = {**self.embedder.settings(), "threads": max(1, int(self.num_cpus))}
            pool = ray.data.ActorPoolStrategy(min_size=1, max_size=self.concurrency)
            vectors = ray.data.from_arrow(blocks).map_batches(
                EncodeActor.bound(settings), batch_size=self.block_size, batch_format="numpy", compute=pool,
                num_cpus=self.num_cpus, num_gpus=self.num_gpus or None)  # fmt: skip
            del blocks
            for batch in vectors.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
                yield [str(h) for h in batch["text_hash"]], np.asarray(batch["vector"], dtype=np.float32)
        except HarnessError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray wraps what failed on a worker in its own errors
            cause = _root_cause(exc)
            if isinstance(cause, ConfigError):
                raise ConfigError(str(cause)) from None
            raise ScoringError(f"the Ray cluster at {self.address!r} failed while encoding: {cause}"
                               " (what was encoded is cached; rerun to resume)") from None
        finally:
            quiet.setLevel(level)
            if started:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Join the cluster unless this process already has; True when we joined (and so must leave)."""
        if ray.is_initialized():
            return False
        try:
            ray.init(address=self.address, log_to_driver=False, logging_level="ERROR", namespace="harness")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"scoring.ray_address = {self.address!r}: cannot join a Ray cluster there: {exc}"
                              " (start one with `ray start --head`, or give its address)") from None
        return True


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError('scoring.executor = "ray" needs Ray: pip install "harness[ray]"') from None
    return ray


def _root_cause(exc: BaseException) -> BaseException:
    """The error raised on the worker, when Ray wrapped one (RayTaskError.cause), else the error itself."""
    seen = 0
    while isinstance(cause := getattr(exc, "cause", None), BaseException) and seen < 10:
        exc = cause
        seen += 1
    return exc
