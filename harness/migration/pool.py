"""The process pool of a migration check: each state a task with its own timeout.

pebble's ProcessPool runs the tasks: a transform that crashes its worker (os._exit, a segfault)
or hangs is an error for that state, the worker is replaced and the check goes on; if the pool
itself breaks, it is rebuilt and the states in flight are tried again one at a time, so only the
state that breaks it is recorded as an error. States are read from the store a bounded batch at
a time and results written in batches, so memory stays bounded.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import polars as pl

from harness.migration.worker import WorkerSettings, check_state, initialize, short_message
from harness.progress import progress_bar
from harness.store import Store

__all__ = ["run_pool"]

# Each store call opens the file (see store/connection.py), so reads and writes are batched:
# a killed check loses at most one batch of results, which a resume redoes.
_FETCH_STATES = 2000
_FETCH_BYTES = 16 << 20
_FLUSH_ROWS = 5000
_FLUSH_BYTES = 32 << 20
_FLUSH_INTERVAL_S = 2.0
_POLL_S = 0.5
_WINDOW_PER_WORKER = 8
"""States in flight per worker: enough to hide the pool's round trip; their bytes are bounded too."""
_WINDOW_BYTES = 64 << 20


@dataclass(frozen=True)
class _Item:
    seq: int
    key: str
    cohort: float | None
    text: str


def _items(store: Store, state_set: str, pending: pl.DataFrame) -> Iterator[_Item]:
    """Pending states in ingest order, read a batch at a time (at most _FETCH_STATES or _FETCH_BYTES)."""
    seqs, sizes, cohorts = (pending[c].to_list() for c in ("seq", "n_bytes", "cohort"))
    start = 0
    while start < len(seqs):
        end, size = start, 0
        while end < len(seqs) and end - start < _FETCH_STATES and (size < _FETCH_BYTES or end == start):
            size += sizes[end]
            end += 1
        cohort_of = dict(zip(seqs[start:end], cohorts[start:end], strict=True))
        for seq, key, text in store.state_texts(state_set, seqs[start:end]):
            yield _Item(seq, key, cohort_of[seq], text)
        start = end


def run_pool(store: Store, check_id: str, state_set: str, pending: pl.DataFrame, settings: WorkerSettings,
             timeout_s: float, n_workers: int, n_planned: int, n_done: int, progress: bool) -> tuple[int, bool]:
    """The pool loop; returns how many states it recorded and whether it was stopped (Ctrl-C, SIGTERM).

    When the pool itself breaks (its machinery, not one worker), every state in flight is tried
    again alone on a fresh pool, so the state that breaks it is found and recorded as pool_broken
    while the others are checked normally."""
    from pebble import ProcessExpired, ProcessPool

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["harness.migration.worker"])

    def new_pool() -> ProcessPool:
        return ProcessPool(max_workers=n_workers, initializer=initialize, initargs=(settings,), context=context)

    items = _items(store, state_set, pending)
    unsent: deque[_Item] = deque()
    retry: deque[_Item] = deque()
    suspects: set[str] = set()
    flight = _Flight()
    buffer = _ResultBuffer(store, check_id)
    window = _WINDOW_PER_WORKER * n_workers
    pool = new_pool()

    def submit(item: _Item) -> bool:
        try:
            flight.add(pool.schedule(check_state, (item.text,), timeout=timeout_s), item)
            return True
        except RuntimeError:  # pebble: the pool is in error; it is rebuilt below
            unsent.appendleft(item)
            return False

    previous = _sigterm_as_interrupt()
    stopped = False
    try:
        with progress_bar(progress) as bar:
            task = bar.add_task(f"migrate-check {check_id}", total=n_planned, completed=n_done, status="")
            while True:
                if retry:  # after a broken pool: one state at a time, alone
                    if not flight.items:
                        submit(retry.popleft())
                else:
                    while (len(flight.items) < window and flight.bytes < _WINDOW_BYTES
                           and (item := unsent.popleft() if unsent else next(items, None))):
                        if not submit(item):
                            break
                if not flight.items and not unsent:
                    break
                finished = wait(flight.items, timeout=_POLL_S, return_when=FIRST_COMPLETED)[0] if flight.items \
                    else set()
                if not pool.active or any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                    # The pool's own machinery failed: results in flight cannot be trusted. Start afresh.
                    for item in flight.clear():
                        if item.key in suspects:
                            buffer.add(item, _error("pool_broken", "the process pool broke while this state"
                                                                   " was checked alone"))
                            bar.advance(task)
                        else:
                            suspects.add(item.key)
                            retry.append(item)
                    _stop(pool)
                    pool = new_pool()
                    continue
                for future in finished:
                    item = flight.pop(future)
                    try:
                        row = future.result()
                    except TimeoutError:
                        row = _error("timeout", f"no result within {timeout_s:g}s (transform, validation, invariants"
                                                " and re-apply together); the worker was stopped")
                    except ProcessExpired as exc:
                        row = _error("crashed", f"the worker process died: {_death(exc.exitcode)}")
                    except Exception as exc:  # noqa: BLE001 - e.g. a state nested too deeply to parse
                        row = _error("worker_error", short_message(f"{type(exc).__name__}: {exc}"))
                    buffer.add(item, row)
                    bar.advance(task)
                buffer.flush_if_due()
                bar.update(task, status=buffer.status())
    except KeyboardInterrupt:
        stopped = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _stop(pool)
        buffer.flush()
    return buffer.n_written, stopped


def _stop(pool: Any) -> None:
    pool.stop()
    pool.join()


def _sigterm_as_interrupt() -> Any:
    """SIGTERM stops a check like Ctrl-C (results so far are kept); returns the old handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"outcome": "transform_error", "error_kind": kind, "error_path": None, "error_message": message}


class _Flight:
    """The states in the pool, by future, and their size."""

    def __init__(self) -> None:
        self.items: dict[Future[Any], _Item] = {}
        self.bytes = 0

    def add(self, future: Future[Any], item: _Item) -> None:
        self.items[future] = item
        self.bytes += len(item.text)

    def pop(self, future: Future[Any]) -> _Item:
        item = self.items.pop(future)
        self.bytes -= len(item.text)
        return item

    def clear(self) -> list[_Item]:
        items = list(self.items.values())
        self.items.clear()
        self.bytes = 0
        return items


class _ResultBuffer:
    """Results waiting to be written: flushed every _FLUSH_ROWS rows, _FLUSH_BYTES or _FLUSH_INTERVAL_S."""

    def __init__(self, store: Store, check_id: str) -> None:
        self.store = store
        self.check_id = check_id
        self.rows: list[dict[str, Any]] = []
        self.changes: list[tuple[str, str, str, str | None, str | None]] = []
        self.bytes = 0
        self.last_flush = time.monotonic()
        self.n_written = 0
        self.n_not_ok = 0

    def add(self, item: _Item, result: dict[str, Any]) -> None:
        self.rows.append({"key": item.key, "seq": item.seq, "cohort": item.cohort, "outcome": result["outcome"],
                          "error_kind": result["error_kind"], "error_path": result["error_path"],
                          "error_message": result["error_message"], "migrated": result.get("migrated"),
                          "n_bytes_out": result.get("n_bytes_out"), "elapsed_ms": result.get("elapsed_ms")})
        self.changes.extend((item.key, *change) for change in result.get("changes", ()))
        self.bytes += result.get("n_bytes_out") or 0
        self.n_not_ok += result["outcome"] != "ok"

    def status(self) -> str:
        return f"{self.n_not_ok:,} not ok so far"

    def flush_if_due(self) -> None:
        due = (len(self.rows) >= _FLUSH_ROWS or self.bytes >= _FLUSH_BYTES
               or time.monotonic() - self.last_flush >= _FLUSH_INTERVAL_S)
        if due:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.rows:
            return
        results = pl.DataFrame(self.rows, schema={
            "key": pl.String, "seq": pl.Int64, "cohort": pl.Float64, "outcome": pl.String, "error_kind": pl.String,
            "error_path": pl.String, "error_message": pl.String, "migrated": pl.String, "n_bytes_out": pl.Int64,
            "elapsed_ms": pl.Float64})  # fmt: skip
        changes = pl.DataFrame(self.changes, orient="row", schema={
            "key": pl.String, "path": pl.String, "change": pl.String, "from_type": pl.String,
            "to_type": pl.String})  # fmt: skip
        self.store.save_migration_results(self.check_id, results, changes)
        self.n_written += len(self.rows)
        self.rows, self.changes, self.bytes = [], [], 0
