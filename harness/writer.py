"""One batched writer for the event loop: rows are collected as work finishes and written by a
single task every `interval_s` or `rows` rows (never more than `rows` at once), off the loop (in
a thread), so a locked or slow store never stalls the calls in flight. Replay and the LLM judge
both write through it.

A write that fails for a passing reason (the file is locked by a reader, a short I/O hiccup)
is retried with a growing pause, keeping the rows; after `max_failures` in a row the writer
gives up and the error is raised by `close()`. A batch the store rejects for its data is
handed to `isolate`, which finds and replaces the bad rows instead of losing the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar

from harness.errors import StoreDataError
from harness.progress import console
from harness.secrets import scrub

__all__ = ["BatchWriter"]

T = TypeVar("T")


class BatchWriter(Generic[T]):
    """Collect rows with `add()`; `start()` the writer task in the running loop, `close()` to flush."""

    def __init__(
        self,
        write: Callable[[list[T]], None],
        *,
        rows: int = 2000,
        interval_s: float = 1.0,
        isolate: Callable[[list[T], StoreDataError], None] | None = None,
        max_failures: int = 5,
    ) -> None:
        self._write = write
        self._rows = rows
        self._interval_s = interval_s
        self._isolate = isolate
        self._max_failures = max_failures
        self._buffer: list[T] = []
        self._due = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.error: BaseException | None = None
        """Set when the writer gave up; the rows it could not write are still in the buffer."""
        self.on_failure: Callable[[BaseException], None] | None = None
        """Called once when the writer gives up (e.g. to stop the work feeding it)."""

    def add(self, row: T) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= self._rows:
            self._due.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Write what is left and stop; raises the error that made the writer give up, if any."""
        self._closing = True
        self._due.set()
        if self._task is not None:
            await self._task
        if self.error is not None:
            raise self.error

    async def _run(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), timeout=self._interval_s)
            self._due.clear()
            rows, self._buffer = self._buffer[: self._rows], self._buffer[self._rows:]
            if self._buffer:
                self._due.set()  # more than one batch waiting: write the next at once
            if rows:
                try:
                    await asyncio.to_thread(self._write_or_isolate, rows)
                    self.written += len(rows)
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - keep the rows and try again
                    self._buffer = rows + self._buffer
                    failures += 1
                    console.print(f"writing results failed ({scrub(str(exc))}); retrying", style="yellow",
                                  markup=False, highlight=False)
                    if failures >= self._max_failures:
                        self.error = exc
                        if self.on_failure is not None:
                            self.on_failure(exc)
                        return
                    await asyncio.sleep(min(2.0 * failures, 10.0))
            if self._closing and not self._buffer:
                return

    def _write_or_isolate(self, rows: list[T]) -> None:
        try:
            self._write(rows)
        except StoreDataError as exc:
            if self._isolate is None:
                raise
            self._isolate(rows, exc)
