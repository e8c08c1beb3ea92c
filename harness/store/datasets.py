"""Writing a dataset: raw canonical batches in, validated requests / captured / quarantine out.

Readers hand over polars frames whose canonical columns may be text (JSON Lines, CSV)
or typed (Parquet structs); DuckDB normalizes and validates them in bulk through Arrow
(harness.store.normalize). Rows are committed block by block under a staging name that no
dataset can have, so memory stays bounded at any file size; the last step renames them to
the dataset and marks it complete in one transaction. Until then nothing of the dataset is
visible, and a killed ingest leaves only staged rows, which the next ingest of the name removes.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import duckdb

from harness.canonical import CANONICAL_COLUMNS, Malformed
from harness.errors import DatasetExistsError, IngestError
from harness.store._polars import pl
from harness.store.connection import one, registered
from harness.store.normalize import INSERT_REQUESTS, as_text, checked_sql, insert_captured

__all__ = ["CANONICAL_COLUMNS", "DatasetSummary", "DatasetWriter", "Malformed", "staging_name", "unchanged_content"]

RAW_LIMIT = 1_000_000  # characters of a malformed line kept in quarantine
_TABLES = ("requests", "captured", "quarantine")


def block_rows() -> int:
    """Rows (requests and malformed lines) committed together; HARNESS_INGEST_BLOCK_ROWS sets it."""
    return max(1, int(os.environ.get("HARNESS_INGEST_BLOCK_ROWS", "250000")))


def staging_name(name: str) -> str:
    """Where a dataset's rows live while it is ingested: a name with a control character, which
    no dataset may have (harness.names), so staged rows never mix with a dataset's."""
    return f"\x1fingesting\x1f{name}"


@dataclass
class DatasetSummary:
    name: str
    n_requests: int = 0
    n_captured: int = 0
    n_quarantined: int = 0
    unchanged: bool = False
    replaced: bool = False
    quarantined: list[Malformed] = field(default_factory=list)
    """The first malformed lines, for the summary; all of them are in the quarantine table."""
    redaction: dict[str, Any] | None = None
    """Redaction settings and counts per kind, when the ingest redacted."""


class DatasetWriter:
    """Writes one dataset on an open write connection: staged block by block, published at finish()."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, *, replace: bool) -> None:
        self._con = con
        self.connection = con
        """The open write connection, for the bulk loader (harness.store.bulk_load)."""
        self.name = name
        self.replace = replace
        self.summary = DatasetSummary(name)
        self.target = staging_name(name)
        """The dataset name the rows carry until finish() publishes them."""
        self.block_rows = block_rows()
        self._pending = 0
        self._in_block = False
        row = one(con, "SELECT content_hash FROM datasets WHERE name = ? AND status = 'complete'", [name])
        self.existing_hash: str | None = row[0] if row else None

    def begin(self) -> None:
        """Remove what a killed ingest of this name left behind and register this one."""
        con = self._con
        con.execute("BEGIN TRANSACTION")
        self._delete(self.target)
        con.execute(
            "INSERT INTO datasets (name, content_hash, format, sources, n_requests, n_captured, n_quarantined,"
            " created_at, status) VALUES (?, '', '', '[]', 0, 0, 0, now(), 'ingesting')",
            [self.target],
        )
        con.execute("COMMIT")
        self.summary.replaced = self.existing_hash is not None and self.replace

    def _open(self) -> None:
        """Open a block (a transaction) unless one is open."""
        if not self._in_block:
            self._con.execute("BEGIN TRANSACTION")
            self._in_block = True

    def commit(self) -> None:
        """Commit the open block, if any."""
        if self._in_block:
            self._con.execute("COMMIT")
            self._in_block = False
            self._pending = 0

    def checkpoint(self) -> bool:
        """Commit the open block once it holds `block_rows` rows; True when it did."""
        if self._pending < self.block_rows:
            return False
        self.commit()
        return True

    def abort(self) -> None:
        """Drop the open block and every staged row: a failed ingest leaves nothing behind."""
        con = self._con
        if self._in_block:
            self._in_block = False
            with contextlib.suppress(duckdb.Error):  # a block that failed to open has nothing to undo
                con.execute("ROLLBACK")
        con.execute("BEGIN TRANSACTION")
        self._delete(self.target)
        con.execute("COMMIT")

    def _delete(self, dataset: str) -> None:
        for table in _TABLES:
            self._con.execute(f"DELETE FROM {table} WHERE dataset = ?", [dataset])
        self._con.execute("DELETE FROM datasets WHERE name = ?", [dataset])

    def add_batch(self, frame: pl.DataFrame, source: str, *, trusted_json: bool = False) -> None:
        """Validate and insert one batch; rows that fail validation go to quarantine."""
        schema = frame.schema
        columns = ", ".join(as_text(c, schema.get(c)) for c in CANONICAL_COLUMNS)
        trusted = trusted_json and all(schema.get(c) in (None, pl.String, pl.Null) for c in CANONICAL_COLUMNS)
        lines = f"lines {frame['_line'].min()}-{frame['_line'].max()}" if frame.height else "no lines"
        with registered(self._con, "_raw", frame):
            bad = self.insert_raw(columns, trusted, source, lines, frame.height)
        if bad:
            raws = _rows_raw(frame, [line for line, _ in bad])
            self.add_malformed([Malformed(source, line, reason, raws.get(line)) for line, reason in bad])

    def insert_raw(self, columns: str, trusted: bool, source: str, lines: str, n_rows: int,
                   typed_captured: bool = False) -> list[tuple[int, str]]:
        """Normalize the relation `_raw` (of `n_rows` rows) into requests and captured; the (line,
        reason) of the rows refused, which the caller sets aside."""
        con = self._con
        self._open()
        try:
            con.execute("CREATE OR REPLACE TEMP VIEW _checked AS " + checked_sql(columns, trusted, typed_captured))
            inserted = con.execute(INSERT_REQUESTS, [self.target, source]).fetchall()[0][0]
            con.execute(insert_captured(inserted == n_rows, typed_captured), [self.target])
            bad = [] if inserted == n_rows else con.execute(
                "SELECT _line, _reason FROM _checked WHERE _reason IS NOT NULL ORDER BY _line").fetchall()
            con.execute("DROP VIEW _checked")
        except duckdb.Error as exc:
            raise IngestError(f"{source} ({lines}): could not load these records: {exc}") from None
        self.summary.n_requests += n_rows - len(bad)
        self._pending += n_rows - len(bad)
        return bad

    def add_malformed(self, rows: list[Malformed]) -> None:
        if not rows:
            return
        self.summary.n_quarantined += len(rows)
        self._pending += len(rows)
        room = 20 - len(self.summary.quarantined)
        self.summary.quarantined.extend(rows[: max(room, 0)])
        table = pl.DataFrame(
            {
                "dataset": [self.target] * len(rows),
                "source": [r.source for r in rows],
                "line": [r.line for r in rows],
                "reason": [r.reason for r in rows],
                # a lone surrogate in a line the parser accepted cannot be encoded: "?" stands for it
                "raw": [None if r.raw is None else r.raw[:RAW_LIMIT].encode("utf-8", "replace").decode() for r in rows],
                "raw_bytes": [r.raw_bytes if r.raw_bytes is not None else _len(r.raw) for r in rows],
            },
            schema={"dataset": pl.String, "source": pl.String, "line": pl.Int64, "reason": pl.String,
                    "raw": pl.String, "raw_bytes": pl.Int64},
        )
        self._open()
        with registered(self._con, "_bad", table):
            self._con.execute("INSERT INTO quarantine SELECT *, now() FROM _bad")

    def finish(self, *, content_hash: str, fmt: str, sources: list[str], strict: bool,
               redaction: dict[str, Any] | None = None) -> DatasetSummary:
        """Check duplicates and strictness, then publish the staged rows as the dataset in one commit."""
        con = self._con
        self._open()
        self._check_duplicates()
        shown = "; ".join(f"{m.source}:{m.line}: {m.reason}" for m in self.summary.quarantined[:10])
        more = " and more" if self.summary.n_quarantined > 10 else ""
        if strict and self.summary.n_quarantined:
            raise IngestError(f"strict: {self.summary.n_quarantined} malformed line(s), nothing ingested: {shown}{more}")
        if self.summary.n_requests == 0:
            # Nothing is published, so the quarantine cannot be looked at later: the reasons go in the error.
            raise IngestError(
                f"no valid request in {', '.join(sources)}"
                + (f" ({self.summary.n_quarantined} malformed: {shown}{more})" if self.summary.n_quarantined else " (empty)")
            )
        row = one(con, "SELECT count(*) FROM captured WHERE dataset = ?", [self.target])
        self.summary.n_captured = int(row[0]) if row else 0
        self._delete(self.name)  # the replaced dataset, if any; gone in the same commit the new one appears
        for table in _TABLES:
            con.execute(f"UPDATE {table} SET dataset = ? WHERE dataset = ?", [self.name, self.target])
        con.execute(
            "UPDATE datasets SET name = ?, content_hash = ?, format = ?, sources = ?, n_requests = ?, n_captured = ?,"
            " n_quarantined = ?, redacted = ?, created_at = now(), redaction = ?, status = 'complete' WHERE name = ?",
            [self.name, content_hash, fmt, json.dumps(sources), self.summary.n_requests,
             self.summary.n_captured, self.summary.n_quarantined, redaction is not None,
             None if redaction is None else json.dumps(redaction), self.target],
        )
        self.commit()
        return self.summary

    def _check_duplicates(self) -> None:
        """IngestError naming every location (file:line) of the first repeated request ids."""
        # count only first: listing every id's lines would cost more than the whole check
        repeated = [r[0] for r in self._con.execute(
            "SELECT request_id FROM requests WHERE dataset = ? GROUP BY request_id HAVING count(*) > 1 LIMIT 11",
            [self.target],
        ).fetchall()]
        if not repeated:
            return
        duplicates = self._con.execute(  # the first places of each: an id may repeat on every line of a big log
            f"SELECT request_id, list(source ORDER BY seq)[1:{_PLACES_SHOWN}], list(line ORDER BY seq)[1:{_PLACES_SHOWN}],"
            " count(*) FROM requests WHERE dataset = ? AND request_id IN (SELECT unnest(?::VARCHAR[]))"
            " GROUP BY request_id ORDER BY min(seq)",
            [self.target, repeated],
        ).fetchall()
        shown = "; ".join(f"{rid!r} at {_locations(files, lines, n)}" for rid, files, lines, n in duplicates[:10])
        more = " and more" if len(duplicates) > 10 else ""
        raise IngestError(f"duplicate request_id in dataset {self.name!r}: {shown}{more}")

    def check_existing(self, content_hash: str) -> bool:
        """True when the dataset already holds exactly this content (a no-op)."""
        self.summary.unchanged = unchanged_content("dataset", self.name, self.existing_hash, content_hash, self.replace)
        return self.summary.unchanged


def unchanged_content(kind: str, name: str, existing_hash: str | None, content_hash: str, replace: bool,
                      content: str = "content") -> bool:
    """Datasets and state sets are immutable: True when `name` already holds exactly this content
    (the ingest is a no-op), False when it is new or being replaced; DatasetExistsError otherwise."""
    if existing_hash is None or replace:
        return False
    if existing_hash == content_hash:
        return True
    raise DatasetExistsError(f"{kind} {name!r} already exists with different {content}; {kind}s are immutable")


_PLACES_SHOWN = 10
"""Places named per repeated id in the error; the count of the rest follows them."""


def _locations(files: list[str], lines: list[int], count: int) -> str:
    """Where a repeated id occurs: `lines 1, 3` within one file, `a.jsonl:1, b.jsonl:4` across files,
    then how many more places there are when `count` exceeds those shown."""
    more = f" and {count - len(lines):,} more" if count > len(lines) else ""
    if len(set(files)) == 1:
        return "lines " + ", ".join(map(str, lines)) + more
    return ", ".join(f"{f}:{n}" for f, n in zip(files, lines, strict=True)) + more


def _rows_raw(frame: pl.DataFrame, lines: list[int]) -> dict[int, str]:
    """The offending records as JSON by line, for the quarantine (one pass over the batch)."""
    rows = frame.filter(pl.col("_line").is_in(lines))
    return {line: json.dumps(row, default=str, ensure_ascii=False)
            for line, row in zip(rows["_line"], rows.drop("_line", "_seq", strict=False).to_dicts(), strict=True)}


def _len(text: str | None) -> int | None:
    return None if text is None else len(text.encode("utf-8", "replace"))


