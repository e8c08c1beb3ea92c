"""Readers of state snapshots: JSON Lines, Parquet, or a query on a DuckDB or SQLite file.

Each row is `{"key": "user-42", "state": {...}, "updated_at": ...}`: key a string or number,
state a JSON object (or its JSON text), updated_at optional (ISO 8601, or epoch seconds or
milliseconds). A row that is not is set aside with its file, line (or row) and reason. Rows
come a bounded batch at a time, so memory stays bounded however many states there are; one
state may be large (MBs), up to `max_state_bytes`, past which it is read past, not held.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from harness.canonical import Malformed
from harness.capture.base import BOM, open_source
from harness.capture.jsonl import RAW_PREFIX_BYTES, line_problem
from harness.errors import IngestError
from harness.store.states import STATE_COLUMNS, read_duckdb_query, state_schema

__all__ = ["FORMATS", "StateBatch", "read_states", "sniff"]

FORMATS = ("jsonl", "parquet", "duckdb", "sqlite")
QUERY_FORMATS = ("duckdb", "sqlite")
_BATCH_ROWS = 2000
_BATCH_BYTES = 16 << 20
_QUERY_ROWS = 256  # rows fetched at once from a database: states may be MBs each


class _Unusable(ValueError):
    """A row that cannot be a state snapshot; the message is the quarantine reason."""


@dataclass
class StateBatch:
    """Good rows (STATE_COLUMNS) and the rows set aside, from one source."""

    frame: pl.DataFrame
    malformed: list[Malformed] = field(default_factory=list)


def sniff(path: Path) -> str:
    """The format by content: Parquet, SQLite and DuckDB files by their magic bytes, else JSON Lines."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head[8:12] == b"DUCK":
        return "duckdb"
    return "jsonl"


def read_states(path: Path, fmt: str, query: str | None, seq_start: int, max_state_bytes: int) -> Iterator[StateBatch]:
    """Batches of good rows and malformed ones from one source, rows numbered from `seq_start`."""
    builder = _Builder(str(path), seq_start)
    if fmt == "jsonl":
        rows: Iterator[tuple[int, Any]] = _jsonl_rows(path, max_state_bytes)
    elif fmt == "parquet":
        rows = _numbered(path, (batch.to_pylist() for batch in _parquet_batches(path)))
    elif fmt == "sqlite":
        rows = _numbered(path, _sqlite_batches(path, query or ""))
    else:
        rows = _numbered(path, read_duckdb_query(path, query or "", _QUERY_ROWS))
    for line, record in rows:
        builder.add(line, record, max_state_bytes)
        if builder.full():
            yield builder.take()
    yield builder.take()


class _Builder:
    """Collects rows into a batch; each record is checked and its state made canonical JSON text."""

    def __init__(self, source: str, seq: int) -> None:
        self.source = source
        self.seq = seq
        self.columns: dict[str, list[Any]] = {name: [] for name in STATE_COLUMNS}
        self.malformed: list[Malformed] = []
        self.bytes = 0

    def add(self, line: int, record: Any, max_state_bytes: int) -> None:
        if isinstance(record, Malformed):
            self.malformed.append(record)
            return
        try:
            key, text, updated_at = _normalized(record)
        except _Unusable as exc:
            raw = json.dumps(record, default=str, ensure_ascii=False)
            self.malformed.append(Malformed(self.source, line, str(exc), raw[:RAW_PREFIX_BYTES], len(raw.encode())))
            return
        size = len(text.encode())
        if size > max_state_bytes:
            self.malformed.append(Malformed(self.source, line, f"state is {size:,} bytes, over the"
                                            f" {max_state_bytes:,}-byte limit", text[:1000], size))
            return
        for name, value in zip(STATE_COLUMNS, (self.seq, key, text, updated_at, size, self.source, line), strict=True):
            self.columns[name].append(value)
        self.seq += 1
        self.bytes += size

    def full(self) -> bool:
        rows = len(self.columns["seq"])
        return rows >= _BATCH_ROWS or self.bytes >= _BATCH_BYTES or len(self.malformed) >= _BATCH_ROWS

    def take(self) -> StateBatch:
        batch = StateBatch(pl.DataFrame(self.columns, schema=state_schema()), self.malformed)
        self.columns = {name: [] for name in STATE_COLUMNS}
        self.malformed, self.bytes = [], 0
        return batch


def _normalized(record: Any) -> tuple[str, str, datetime | None]:
    """(key, state as compact JSON text, updated_at); _Unusable with the reason otherwise."""
    if not isinstance(record, dict):
        raise _Unusable("not a JSON object")
    key = record.get("key")
    if key is None or (isinstance(key, str) and not key.strip()):
        raise _Unusable("missing key")
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise _Unusable("key must be a string or a number")
    if record.get("state") is None:
        raise _Unusable("missing state")
    state = record["state"]
    if isinstance(state, str):
        try:
            state = json.loads(state)
        except (ValueError, RecursionError):
            raise _Unusable("state is text that is not JSON (or nested too deeply)") from None
    if not isinstance(state, dict):
        raise _Unusable(f"state must be a JSON object, not {_kind(state)}")
    try:
        text = json.dumps(state, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        raise _Unusable("state holds NaN or Infinity, which JSON does not have") from None
    except RecursionError:
        raise _Unusable("state is nested too deeply") from None
    return str(key), text, _timestamp(record.get("updated_at"))


def _kind(value: Any) -> str:
    return {list: "an array", int: "a number", float: "a number", bool: "a boolean"}.get(type(value), "a value")


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise _Unusable("updated_at is neither ISO 8601 nor epoch seconds/milliseconds")


def _jsonl_rows(path: Path, max_state_bytes: int) -> Iterator[tuple[int, Any]]:
    """(line, record or Malformed) per non-blank line; a line over the limit is read past."""
    source = str(path)
    limit = max_state_bytes + 4096  # room for the key and updated_at around the state
    with open_source(path) as stream:
        for line, text, size in _lines(stream, limit):
            if text is None:
                yield line, Malformed(source, line, f"line is {size:,} bytes, over the {limit:,}-byte limit",
                                      None, size)
                continue
            if line == 1:
                text = text.removeprefix(BOM)
            text = text.rstrip(b"\r\n")
            if not text.strip():
                continue
            try:
                record = json.loads(text, parse_constant=_no_constant)
            except (ValueError, RecursionError):
                reason = line_problem(text) or "invalid JSON"
                yield line, Malformed(source, line, reason, text[:RAW_PREFIX_BYTES].decode("utf-8", "replace"),
                                      len(text))
                continue
            yield line, record


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _lines(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, bytes or None when longer than `limit`, size), holding at most `limit` bytes."""
    number = 0
    while True:
        text = stream.readline(limit + 1)
        if not text:
            return
        number += 1
        if len(text) <= limit or text.endswith(b"\n"):
            yield number, text, len(text)
            continue
        size = len(text)
        while text and not text.endswith(b"\n"):
            text = stream.readline(1 << 20)
            size += len(text)
        yield number, None, size


def _numbered(path: Path, batches: Iterator[list[dict[str, Any]]]) -> Iterator[tuple[int, Any]]:
    """(row number from 1, record) over batches of records that have key and state columns."""
    row = 0
    for batch in batches:
        missing = [c for c in ("key", "state") if batch and c not in batch[0]]
        if missing:
            raise IngestError(f"{path}: the rows have no {missing[0]!r} column (they have: {', '.join(batch[0])});"
                              " name the columns key, state and updated_at, e.g. SELECT user_id AS key, ...")
        for record in batch:
            row += 1
            yield row, record


def _parquet_batches(path: Path) -> Iterator[Any]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
        raise IngestError(f"{path}: not a readable Parquet file: {exc}") from None
    names = parquet.schema_arrow.names
    yield from parquet.iter_batches(batch_size=_QUERY_ROWS, columns=[c for c in ("key", "state", "updated_at")
                                                                      if c in names])


def _sqlite_batches(path: Path, query: str) -> Iterator[list[dict[str, Any]]]:
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise IngestError(f"{path}: cannot open as a SQLite file: {exc}") from None
    try:
        try:
            cursor = con.execute(query)
        except sqlite3.Error as exc:
            raise IngestError(f"{path}: the query failed: {exc}") from None
        names = [d[0] for d in cursor.description or ()]
        while rows := cursor.fetchmany(_QUERY_ROWS):
            yield [dict(zip(names, values, strict=True)) for values in rows]
    finally:
        con.close()

