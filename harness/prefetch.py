"""Produce the next item of an iterator in a thread while the caller works on this one.

Ingest reads, hashes and splits the next block of a log while the store loads the current one
(file reads, hashing, polars and DuckDB all release the GIL, so the two overlap on two cores).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import Any, TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")


def prefetched(items: Iterator[T]) -> Generator[T, None, None]:
    """`items`, each produced one step ahead in a background thread; its errors re-raised here."""
    results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        results.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            results.put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            results.put(("error", exc))

    thread = threading.Thread(target=produce, name="ingest-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = results.get()
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
