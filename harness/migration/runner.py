"""`migrate-check`: every chosen state through the user's transform in a process pool.

Each state is one task with its own timeout (pebble's ProcessPool): a transform that crashes
its worker (os._exit, a segfault) or hangs is an error for that state, the worker is replaced
and the check goes on; if the pool itself breaks, it is rebuilt and the states in flight are
tried again one at a time, so only the state that breaks it is recorded as an error. States are read from the store a bounded batch at a time and
results are written in batches, so memory stays bounded; a check killed at any moment resumes
with the same check id, redoing only the states whose results were not yet written.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from harness.config import CanaryConfig, MigrationConfig
from harness.errors import ConfigError, NotFoundError
from harness.migration.code import code_digest, load_code
from harness.migration.worker import WorkerSettings, check_state, initialize, short_message
from harness.progress import progress_bar
from harness.stats import stable_fraction
from harness.store import Store

__all__ = ["MigrationOutcome", "check_migration", "new_check_id", "plan_states"]

_FETCH_STATES = 256
_FETCH_BYTES = 16 << 20
_FLUSH_ROWS = 500
_FLUSH_BYTES = 16 << 20
_FLUSH_INTERVAL_S = 1.0


@dataclass
class MigrationOutcome:
    """What a migrate-check call did; `status` is the check's status afterwards."""

    check_id: str
    state_set: str
    status: str
    scope: str
    n_planned: int
    n_checked: int
    n_new: int
    outcomes: dict[str, int] = field(default_factory=dict)
    resumed: bool = False
    elapsed_s: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class _Item:
    seq: int
    key: str
    cohort: float | None
    text: str


def new_check_id() -> str:
    """A sortable, unique check id: mig-YYYYmmdd-HHMMSS-xxxx."""
    return f"mig-{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"


def plan_states(store: Store, migration: MigrationConfig, canary: CanaryConfig) -> tuple[pl.DataFrame, str]:
    """The states a check covers (seq, key, n_bytes, cohort) in ingest order, and its scope.

    Users are placed by the canary's stable hash (harness.stats.stable_fraction with the canary
    salt): `cohort` is the smallest step (of --cohort, else the canary's steps) that holds the
    user, so "migrate 5% first" means the canary's first 5%. --cohort keeps only the users within
    its largest step; --sample N the N users the canary reaches first."""
    assert migration.states is not None
    index = store.state_index(migration.states)
    steps = np.array(sorted(migration.cohorts or canary.steps), dtype=float)
    fractions = np.array([stable_fraction(k, canary.salt) for k in index["key"].to_list()], dtype=float)
    position = np.searchsorted(steps / 100, fractions, side="right")
    cohort = [float(steps[p]) if p < len(steps) else None for p in position]
    plan = index.with_columns(pl.Series("cohort", cohort, dtype=pl.Float64), pl.Series("fraction", fractions))
    scope = "all"
    if migration.cohorts and steps[-1] < 100:
        plan, scope = plan.filter(pl.col("fraction") < steps[-1] / 100), f"cohort {steps[-1]:g}%"
    elif migration.sample is not None and migration.sample < plan.height:
        cut = plan["fraction"].sort()[migration.sample - 1]
        plan, scope = plan.filter(pl.col("fraction") <= cut).head(migration.sample), f"sample of {migration.sample:,}"
    return plan.drop("fraction"), scope


def check_migration(store: Store, migration: MigrationConfig, *, canary: CanaryConfig | None = None,
                    base_dir: str | Path = ".", replace: bool = False, progress: bool = True) -> MigrationOutcome:
    """Run (or resume) the check `migration.check`; `replace` forgets an earlier one of that id."""
    start = time.perf_counter()
    canary = canary or CanaryConfig()
    for option, value in (("--states", migration.states), ("--transform", migration.transform),
                          ("--schema", migration.target_schema)):
        if not value:
            raise ConfigError(f"migrate-check needs {option} (or `{option[2:]}` in the config's [migration])")
    assert migration.states and migration.transform and migration.target_schema
    state_set = store.state_set(migration.states)
    workers = WorkerSettings(migration.transform, migration.target_schema, migration.invariants,
                             migration.idempotent, tuple(migration.already_migrated), str(Path(base_dir).resolve()))
    code = load_code(workers.transform, workers.schema, workers.invariants, workers.already_migrated,
                     workers.base_dir)
    settings = {"state_set": migration.states, "state_set_hash": state_set["content_hash"],
                "transform": migration.transform, "schema": migration.target_schema,
                "invariants": migration.invariants, "idempotent": migration.idempotent,
                "already_migrated": list(migration.already_migrated), "sample": migration.sample,
                "cohorts": list(migration.cohorts), "canary_salt": canary.salt, "canary_steps": list(canary.steps),
                "code_digest": code_digest(code)}  # fmt: skip
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    check_id = migration.check
    existing = _existing(store, check_id)
    if existing is not None and not replace:
        if existing["settings_digest"] != digest:
            changed = sorted(k for k in settings if existing["settings"].get(k) != settings[k])
            raise ConfigError(f"migration check {check_id!r} was made with other settings ({', '.join(changed)}"
                              " differ): pass --replace to redo it, or choose another --check-id")
        if existing["status"] == "completed":
            return _outcome(store, check_id, existing, 0, True, start,
                            f"migration check {check_id} is already complete: nothing to do")
    plan, scope = plan_states(store, migration, canary)
    if existing is None or replace:
        store.create_migration_check(check_id, migration.states, scope, settings | {"timeout_s": migration.timeout_s},
                                     digest, plan.height, replace=existing is not None)
    done = store.checked_keys(check_id)
    pending = plan.filter(~pl.col("key").is_in(done.implode())) if done.len() else plan
    n_workers = migration.workers or os.cpu_count() or 1
    try:
        n_new = _run(store, check_id, migration.states, pending, workers, migration.timeout_s, n_workers,
                     plan.height, plan.height - pending.height, progress)
    except KeyboardInterrupt:
        store.update_migration_check(check_id, "interrupted", "stopped before the end: rerun to resume")
        return _outcome(store, check_id, store.migration_check(check_id), -1, existing is not None, start,
                        f"migration check {check_id} interrupted: rerun with --check-id {check_id} to resume")
    store.update_migration_check(check_id, "completed")
    row = store.migration_check(check_id)
    return _outcome(store, check_id, row, n_new, existing is not None and not replace, start, "")


def _existing(store: Store, check_id: str) -> dict[str, Any] | None:
    try:
        return store.migration_check(check_id)
    except NotFoundError:
        return None


def _outcome(store: Store, check_id: str, row: dict[str, Any], n_new: int, resumed: bool, start: float,
             message: str) -> MigrationOutcome:
    counts = store.migration_outcomes(check_id)
    n_checked = sum(counts.values())
    if not message:
        message = (f"migration check {check_id}: {n_checked:,} of {row['n_planned']:,} states checked"
                   f" ({', '.join(f'{k} {v:,}' for k, v in counts.items())})")
    return MigrationOutcome(check_id, row["state_set"], row["status"], row["scope"], row["n_planned"], n_checked,
                            max(n_new, 0), counts, resumed, time.perf_counter() - start, message)


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


def _run(store: Store, check_id: str, state_set: str, pending: pl.DataFrame, settings: WorkerSettings,
         timeout_s: float, n_workers: int, n_planned: int, n_done: int, progress: bool) -> int:
    """The pool loop; returns how many states it recorded.

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
    in_flight: dict[Future[Any], _Item] = {}
    buffer = _ResultBuffer(store, check_id)
    window = 4 * n_workers
    pool = new_pool()

    def submit(item: _Item) -> bool:
        try:
            in_flight[pool.schedule(check_state, (item.text,), timeout=timeout_s)] = item
            return True
        except RuntimeError:  # pebble: the pool is in error; it is rebuilt below
            unsent.appendleft(item)
            return False

    previous = _sigterm_as_interrupt()
    try:
        with progress_bar(progress) as bar:
            task = bar.add_task(f"migrate-check {check_id}", total=n_planned, completed=n_done, status="")
            while True:
                if retry:  # after a broken pool: one state at a time, alone
                    if not in_flight:
                        submit(retry.popleft())
                else:
                    while len(in_flight) < window and (item := unsent.popleft() if unsent else next(items, None)):
                        if not submit(item):
                            break
                if not in_flight and not unsent:
                    break
                finished = wait(in_flight, timeout=_FLUSH_INTERVAL_S, return_when=FIRST_COMPLETED)[0] \
                    if in_flight else set()
                if not pool.active or any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                    # The pool's own machinery failed: results in flight cannot be trusted. Start afresh.
                    for item in in_flight.values():
                        if item.key in suspects:
                            buffer.add(item, _error("pool_broken", "the process pool broke while this state"
                                                                   " was checked alone"))
                            bar.advance(task)
                        else:
                            suspects.add(item.key)
                            retry.append(item)
                    in_flight.clear()
                    _stop(pool)
                    pool = new_pool()
                    continue
                for future in finished:
                    item = in_flight.pop(future)
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
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _stop(pool)
        buffer.flush()
    return buffer.n_written


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
