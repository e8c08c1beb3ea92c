"""The Store: one DuckDB file, every SQL string, answers as polars DataFrames.

Connections are short-lived (see connection.py), so a read-only Store held open in a
notebook never blocks a running replay: each call takes the file for one query.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from harness.errors import NotFoundError, StoreConflictError, StoreDataError, StoreError, StoreFullError
from harness.names import what_exists
from harness.store._polars import pl
from harness.store.connection import connect, fetch_rows, frame
from harness.store.datasets import DatasetWriter
from harness.store.gates import GateQueries
from harness.store.looks import LookQueries
from harness.store.migration import MigrationQueries
from harness.store.migrations import SCHEMA_VERSION, current_version, migrate
from harness.store.report import ReportQueries
from harness.store.runs import RunQueries
from harness.store.scores import ScoreQueries
from harness.store.states import StateQueries
from harness.store.tool_events import ToolEventQueries

__all__ = ["Store", "open_store", "DEFAULT_DB", "resolve_db_path"]

DEFAULT_DB = "harness.duckdb"


def resolve_db_path(explicit: str | os.PathLike[str] | None = None, configured: str | None = None) -> Path:
    """--db, then HARNESS_DB, then the config's `db`, then ./harness.duckdb."""
    for candidate in (explicit, os.environ.get("HARNESS_DB"), configured):
        if candidate:
            return Path(candidate)
    return Path(DEFAULT_DB)


class Store(RunQueries, ScoreQueries, GateQueries, ReportQueries, StateQueries, MigrationQueries,
            ToolEventQueries, LookQueries):
    """A harness DuckDB file. Read-only stores never write and never migrate."""

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False, lock_wait_s: float = 600.0) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.lock_wait_s = lock_wait_s
        self._held = threading.local()
        if read_only:
            if not self.path.exists():
                raise NotFoundError(f"no harness store at {self.path} (run `harness demo` or `harness ingest` first)")
            with self._connection() as con:
                version = current_version(con)
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, this harness uses {SCHEMA_VERSION}:"
                    " open it once read-write (any harness command) to upgrade"
                    if version < SCHEMA_VERSION
                    else f"{self.path} was written by a newer harness (schema {version} > {SCHEMA_VERSION})"
                )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connection(write=True) as con:
                if current_version(con) > SCHEMA_VERSION:
                    raise StoreError(f"{self.path} was written by a newer harness")
                migrate(con)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, read_only={self.read_only})"

    @contextmanager
    def _connection(self, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; every DuckDB error inside it comes out as a StoreError."""
        if write and self.read_only:
            raise StoreError(f"{self.path} is open read-only")
        held = getattr(self._held, "con", None)
        try:
            if held is not None:
                yield held
                return
            with connect(self.path, read_only=self.read_only, wait_s=self.lock_wait_s) as con:
                yield con
        except duckdb.Error as exc:
            raise translated(exc, self.path) from None
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StoreFullError(f"{self.path}: the disk is full ({exc.strerror})") from None
            raise

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep one connection for the store's calls inside the block, in this thread: a few calls
        in a row (a replay opening its run) then cost one connect instead of one each. Other
        processes wait for the file meanwhile, so keep the block short."""
        if getattr(self._held, "con", None) is not None:
            yield
            return
        with self._connection() as con:
            self._held.con = con
            try:
                yield
            finally:
                self._held.con = None

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run any SQL and return a polars DataFrame (read-only stores cannot write with it)."""
        with self._connection() as con:
            try:
                return frame(con, query, params)
            except duckdb.Error as exc:
                raise StoreError(f"query failed: {exc}") from None

    def _frame(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        with self._connection() as con:
            return frame(con, query, params)

    def _rows(self, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """A query's rows as dicts of DuckDB's Python values: no polars, for the few rows a command
        reads before its work starts (a replay's first call waits for them)."""
        with self._connection() as con:
            names, found = fetch_rows(con, query, params)
        return [dict(zip(names, row, strict=True)) for row in found]

    # ---- datasets -------------------------------------------------------------------

    def datasets(self) -> pl.DataFrame:
        """Every complete dataset with its counts, newest first (an ingest in progress is not one yet)."""
        return self._frame("SELECT * EXCLUDE (status) FROM datasets WHERE status = 'complete' ORDER BY created_at DESC")

    def dataset(self, name: str) -> dict[str, Any]:
        rows = self._rows("SELECT * EXCLUDE (status) FROM datasets WHERE name = ? AND status = 'complete'", [name])
        if not rows:
            names = [row["name"] for row in self._rows("SELECT name FROM datasets ORDER BY created_at DESC")]
            raise NotFoundError(f"no dataset named {name!r} in {self.path}; {what_exists(name, names, 'datasets')}")
        return rows[0]

    def requests(self, dataset: str) -> pl.DataFrame:
        """The dataset's requests in ingest order."""
        return self._frame("SELECT * EXCLUDE (dataset) FROM requests WHERE dataset = ? ORDER BY seq", [dataset])

    def first_requests(self, dataset: str, n: int, request_id: str | None = None) -> list[dict[str, Any]]:
        """The dataset's first `n` requests in ingest order (only `request_id`, when given), as dicts."""
        where = "" if request_id is None else " AND request_id = ?"
        return self._rows(f"SELECT * EXCLUDE (dataset) FROM requests WHERE dataset = ?{where} ORDER BY seq LIMIT ?",
                          [dataset, *([] if request_id is None else [request_id]), n])

    def captured(self, dataset: str, variant: str | None = None) -> pl.DataFrame:
        """Outputs the log itself holds, one row per request and variant."""
        query = "SELECT * EXCLUDE (dataset) FROM captured WHERE dataset = ?"
        params: list[Any] = [dataset]
        if variant is not None:
            query += " AND variant = ?"
            params.append(variant)
        return self._frame(query + " ORDER BY request_id, variant", params)

    def captured_variants(self, dataset: str) -> list[str]:
        """The captured variants a dataset's log holds (prod, shadow, canary, ...), sorted."""
        rows = self._frame("SELECT DISTINCT variant FROM captured WHERE dataset = ? ORDER BY variant", [dataset])
        return rows["variant"].to_list()

    def quarantine(self, dataset: str) -> pl.DataFrame:
        """Malformed lines set aside at ingest: file, line, reason, raw text."""
        return self._frame(
            "SELECT * EXCLUDE (dataset) FROM quarantine WHERE dataset = ? ORDER BY source, line", [dataset]
        )

    @contextmanager
    def dataset_writer(self, name: str, *, replace: bool) -> Iterator[DatasetWriter]:
        """One write connection for a whole ingest; the caller commits via finish()."""
        with self._connection(write=True) as con:
            con.execute("SET preserve_insertion_order = true")
            # a big ingest spills rather than swelling the process; 384 MB leaves room for the blocks in flight
            con.execute("SET memory_limit = '384MB'")
            yield DatasetWriter(con, name, replace=replace)


def translated(exc: BaseException, path: Path) -> StoreError:
    """A DuckDB error as the store error it means: a full disk, a uniqueness conflict, data the
    store rejects, or anything else; the original message is kept (DuckDB's messages name the
    table and value, never a secret of ours)."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "No space left on device" in text:
        return StoreFullError(f"{path}: the disk is full: {first}")
    if "database has been invalidated" in text:
        return StoreError(f"{path}: an earlier write failed (often a full disk) and DuckDB closed the database"
                          f" for this process: {first}")
    if isinstance(exc, duckdb.ConstraintException):
        return StoreConflictError(f"{path}: {first}")
    if isinstance(exc, duckdb.ConversionException | duckdb.InvalidInputException | duckdb.OutOfRangeException):
        return StoreDataError(f"{path}: a value could not be stored: {first}")
    return StoreError(f"{path}: {type(exc).__name__}: {first}")


def open_store(path: str | os.PathLike[str] | None = None, read_only: bool = False) -> Store:
    """Open (and create or upgrade, unless read_only) a harness store.

    Without a path: HARNESS_DB, else ./harness.duckdb.
    """
    return Store(resolve_db_path(path), read_only=read_only)
