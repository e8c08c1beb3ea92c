"""SQL for state snapshots: what `ingest-states` writes and what `migrate-check` reads.

A state set is a named, immutable set of users' stored agent states under one schema version
(one snapshot per key), loaded in one transaction; malformed rows go to `state_quarantine`.
Migration checks and their per-state results are in store/migration.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from harness.canonical import Malformed
from harness.errors import IngestError, NotFoundError
from harness.names import what_exists
from harness.store._polars import pl
from harness.store.connection import one, registered
from harness.store.datasets import RAW_LIMIT, unchanged_content
from harness.store.runs import _HasConnection

__all__ = ["STATE_COLUMNS", "StateQueries", "StateSetSummary", "StateSetWriter", "read_duckdb_query", "state_schema"]

#: What a reader hands the writer for each good row (types: `state_schema()`).
STATE_COLUMNS = ("seq", "key", "state", "updated_at", "n_bytes", "source", "line")


def state_schema() -> dict[str, Any]:
    """The polars types of STATE_COLUMNS."""
    return dict(zip(STATE_COLUMNS, (pl.Int64, pl.String, pl.String, pl.Datetime("us", "UTC"), pl.Int64, pl.String,
                                    pl.Int64), strict=True))


@dataclass
class StateSetSummary:
    name: str
    schema_version: str = ""
    n_states: int = 0
    n_quarantined: int = 0
    n_bytes: int = 0
    unchanged: bool = False
    replaced: bool = False
    quarantined: list[Malformed] = field(default_factory=list)
    """The first malformed rows, for the summary; all of them are in `state_quarantine`."""


class StateSetWriter:
    """Writes one state set inside one transaction on an open write connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, *, replace: bool) -> None:
        self._con = con
        self.name = name
        self.replace = replace
        self.summary = StateSetSummary(name)
        row = one(con, "SELECT content_hash FROM state_sets WHERE name = ?", [name])
        self.existing_hash: str | None = row[0] if row else None

    def check_existing(self, content_hash: str) -> bool:
        """True when the state set already holds exactly this content (a no-op)."""
        self.summary.unchanged = unchanged_content("state set", self.name, self.existing_hash, content_hash,
                                                   self.replace, content="content (or schema version)")
        return self.summary.unchanged

    def begin(self) -> None:
        self._con.execute("BEGIN TRANSACTION")
        if self.existing_hash is not None and self.replace:
            for table, column in (("state_snapshots", "state_set"), ("state_quarantine", "state_set"),
                                  ("state_sets", "name")):
                self._con.execute(f"DELETE FROM {table} WHERE {column} = ?", [self.name])
            self.summary.replaced = True

    def rollback(self) -> None:
        self._con.execute("ROLLBACK")

    def add_states(self, batch: pl.DataFrame) -> None:
        """Insert good rows (STATE_COLUMNS); the state text is stored as JSON."""
        if batch.is_empty():
            return
        with registered(self._con, "_states", batch):
            try:
                self._con.execute("INSERT INTO state_snapshots SELECT ?, seq, key, state::JSON, updated_at, n_bytes,"
                                  " source, line FROM _states", [self.name])
            except duckdb.Error as exc:
                first, last = batch["line"].min(), batch["line"].max()
                raise IngestError(f"{batch['source'][0]} (rows {first}-{last}): could not load these states:"
                                  f" {exc}") from None
        self.summary.n_states += batch.height
        self.summary.n_bytes += int(batch["n_bytes"].sum())

    def add_malformed(self, rows: list[Malformed]) -> None:
        if not rows:
            return
        self.summary.n_quarantined += len(rows)
        self.summary.quarantined.extend(rows[: max(20 - len(self.summary.quarantined), 0)])
        table = pl.DataFrame(
            {"source": [r.source for r in rows], "line": [r.line for r in rows], "reason": [r.reason for r in rows],
             "raw": [None if r.raw is None else r.raw[:RAW_LIMIT] for r in rows],
             "raw_bytes": [r.raw_bytes for r in rows]},
            schema={"source": pl.String, "line": pl.Int64, "reason": pl.String, "raw": pl.String,
                    "raw_bytes": pl.Int64},
        )  # fmt: skip
        with registered(self._con, "_bad_states", table):
            self._con.execute("INSERT INTO state_quarantine SELECT ?, *, now() FROM _bad_states", [self.name])

    def finish(self, *, content_hash: str, fmt: str, schema_version: str, sources: list[str],
               strict: bool) -> StateSetSummary:
        """Check duplicate keys and strictness, record the state set and commit."""
        con = self._con
        duplicates = con.execute(
            "SELECT key, list(source || ':' || line ORDER BY seq) FROM state_snapshots WHERE state_set = ?"
            " GROUP BY key HAVING count(*) > 1 ORDER BY min(seq) LIMIT 11", [self.name]).fetchall()
        if duplicates:
            shown = "; ".join(f"{key!r} at {', '.join(places)}" for key, places in duplicates[:10])
            raise IngestError(f"duplicate key in state set {self.name!r} (one snapshot per key; keep the newest"
                              f" with a query): {shown}{' and more' if len(duplicates) > 10 else ''}")
        s = self.summary
        if strict and s.n_quarantined:
            shown = "; ".join(f"{m.source}:{m.line}: {m.reason}" for m in s.quarantined[:10])
            raise IngestError(f"strict: {s.n_quarantined} malformed row(s), nothing ingested: {shown}")
        if s.n_states == 0:
            raise IngestError(f"no valid state in {', '.join(sources)}"
                              + (f" ({s.n_quarantined} malformed)" if s.n_quarantined else " (empty)"))
        s.schema_version = schema_version
        con.execute("INSERT INTO state_sets VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
                    [self.name, schema_version, content_hash, fmt, json.dumps(sources), s.n_states,
                     s.n_quarantined, s.n_bytes])
        con.execute("COMMIT")
        return s


class StateQueries:
    """Mixin of Store: state sets, their snapshots and quarantine."""

    def state_sets(self: _HasConnection) -> pl.DataFrame:
        """Every state set with its counts, newest first."""
        return self._frame("SELECT * FROM state_sets ORDER BY created_at DESC")

    def state_set(self: _HasConnection, name: str) -> dict[str, Any]:
        rows = self._frame("SELECT * FROM state_sets WHERE name = ?", [name]).to_dicts()
        if not rows:
            names = self._frame("SELECT name FROM state_sets ORDER BY created_at DESC")["name"].to_list()
            raise NotFoundError(f"no state set named {name!r} in {getattr(self, 'path', 'the store')}"
                                f" (load one with `harness ingest-states`); {what_exists(name, names, 'state sets')}")
        return rows[0]

    def states(self: _HasConnection, name: str) -> pl.DataFrame:
        """Snapshots of a state set in ingest order; `state` is JSON text."""
        return self._frame("SELECT key, state, updated_at, n_bytes, source, line FROM state_snapshots"
                           " WHERE state_set = ? ORDER BY seq", [name])

    def state_quarantine(self: _HasConnection, name: str) -> pl.DataFrame:
        """Malformed rows set aside by ingest-states: file, line, reason, raw text."""
        return self._frame("SELECT * EXCLUDE (state_set) FROM state_quarantine WHERE state_set = ?"
                           " ORDER BY source, line", [name])

    def state_index(self: _HasConnection, name: str) -> pl.DataFrame:
        """seq, key and size of every snapshot, in ingest order: what a migration check plans with."""
        return self._frame("SELECT seq, key, n_bytes FROM state_snapshots WHERE state_set = ? ORDER BY seq", [name])

    def state_texts(self: _HasConnection, name: str, seqs: list[int]) -> list[tuple[int, str, str]]:
        """(seq, key, state JSON text) of some snapshots, in seq order; one short read."""
        with self._connection() as con:
            return con.execute(
                "SELECT seq, key, state::VARCHAR FROM state_snapshots WHERE state_set = ? AND seq BETWEEN ? AND ?"
                " AND seq IN (SELECT unnest(?::BIGINT[])) ORDER BY seq",
                [name, min(seqs), max(seqs), seqs]).fetchall()

    @contextmanager
    def state_set_writer(self: _HasConnection, name: str, *, replace: bool) -> Iterator[StateSetWriter]:
        """One write connection for a whole ingest-states; the caller commits via finish()."""
        with self._connection(write=True) as con:
            con.execute("SET memory_limit = '512MB'")  # a big load spills rather than swelling the process
            yield StateSetWriter(con, name, replace=replace)


def read_duckdb_query(path: Path, query: str, batch_rows: int) -> Iterator[list[dict[str, Any]]]:
    """Rows of a query on another DuckDB file, opened read-only, a batch at a time."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot open as a DuckDB file: {exc}") from None
    try:
        con.execute("SET memory_limit = '512MB'")
        try:
            relation = con.sql(query)
            if relation is None:
                raise IngestError(f"{path}: the query returns no rows: give a SELECT")
            for batch in relation.to_arrow_reader(batch_rows):
                yield batch.to_pylist()
        except duckdb.Error as exc:
            raise IngestError(f"{path}: the query failed: {exc}") from None
    finally:
        con.close()
