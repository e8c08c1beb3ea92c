"""Writing a dataset: raw canonical batches in, validated requests / captured / quarantine out.

Readers hand over polars frames whose canonical columns may be text (JSON Lines, CSV)
or typed (Parquet structs); DuckDB normalizes and validates them in bulk through Arrow,
inside one transaction, so a failed or strict ingest leaves nothing behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from harness.errors import DatasetExistsError, IngestError
from harness.store.connection import one, registered

__all__ = ["CANONICAL_COLUMNS", "Malformed", "DatasetWriter", "DatasetSummary"]

#: Columns a reader may provide; only request_id and input are required.
CANONICAL_COLUMNS = (
    "request_id",
    "timestamp",
    "user_id",
    "session_id",
    "input",
    "metadata",
    "reference",
    "captured",
)

RAW_LIMIT = 1_000_000  # characters of a malformed line kept in quarantine


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line (or row) that could not become a request, and why."""

    source: str
    line: int | None
    reason: str
    raw: str | None = None
    raw_bytes: int | None = None


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


# Text of each canonical column, whatever type the reader gave it.
def _as_text(name: str, dtype: pl.DataType | None) -> str:
    if dtype is None:
        return f"NULL::VARCHAR AS {name}"
    if dtype == pl.String:
        return f'"{name}" AS {name}'
    if dtype in (pl.Null,):
        return f"NULL::VARCHAR AS {name}"
    if isinstance(dtype, pl.Struct | pl.List | pl.Array):
        return f'to_json("{name}")::VARCHAR AS {name}'
    return f'CAST("{name}" AS VARCHAR) AS {name}'


_CAPTURED_SHAPE = json.dumps([{
    "variant": "VARCHAR", "output": "VARCHAR", "model": "VARCHAR", "tool_calls": ["JSON"],
    "usage": {"input_tokens": "VARCHAR", "output_tokens": "VARCHAR", "cached_input_tokens": "VARCHAR",
              "prompt_tokens": "VARCHAR", "completion_tokens": "VARCHAR"},
    "cost_usd": "VARCHAR", "latency_ms": "VARCHAR", "error": "JSON",
}])  # fmt: skip
_MESSAGES_SHAPE = json.dumps({"messages": [{"role": "VARCHAR", "content": "JSON"}]})
_REFERENCE_SHAPE = json.dumps({"output": "VARCHAR", "tool_calls": "JSON"})


def _container(column: str, trusted: bool) -> str:
    """True when a text column holds a JSON object or array. Text a JSON parser already produced
    needs only its first character checked; anything else is validated once."""
    starts = f"(starts_with(ltrim({column}), '{{') OR starts_with(ltrim({column}), '['))"
    return starts if trusted else f"({starts} AND json_valid({column}))"


def _checked(columns: str, trusted: bool) -> str:
    """The batch with cheap shape checks and the quarantine reason. The nested columns are parsed
    later, once each, by the statement that needs them, into a typed structure (DuckDB parses
    JSON text again on every function call, so field-by-field extraction would parse a dozen
    times, and materializing the parsed structures costs more than parsing)."""
    obj = _container("metadata", trusted).replace("OR starts_with(ltrim(metadata), '[')", "")
    return f"""
WITH src AS (SELECT {columns}, _line, _seq FROM _raw),
shaped AS (
    SELECT *,
        {_container("input", trusted)} AS _input_container,
        {_container("reference", trusted)} AS _ref_container,
        metadata IS NULL OR {obj} AS _meta_ok,
        CASE WHEN captured IS NULL OR NOT {_container("captured", trusted)} THEN NULL
             WHEN starts_with(ltrim(captured), '[') THEN captured ELSE '[' || captured || ']' END AS _cap_list,
        coalesce(
            try_cast("timestamp" AS TIMESTAMPTZ),
            CASE WHEN try_cast("timestamp" AS DOUBLE) > 1e11
                 THEN to_timestamp(try_cast("timestamp" AS DOUBLE) / 1000)
                 ELSE to_timestamp(try_cast("timestamp" AS DOUBLE)) END
        ) AS _ts
    FROM src
)
SELECT *,
    CASE
        WHEN request_id IS NULL OR trim(request_id) = '' THEN 'missing request_id'
        WHEN starts_with(ltrim(request_id), '{{') OR starts_with(ltrim(request_id), '[')
            THEN 'request_id must be a string or a number'
        WHEN input IS NULL THEN 'missing input'
        WHEN NOT _meta_ok THEN 'metadata must be a JSON object'
        WHEN captured IS NOT NULL AND _cap_list IS NULL
            THEN 'captured must be an object or a list of objects'
        WHEN starts_with(ltrim(captured), '[') AND NOT coalesce(list_bool_and(list_transform(
                from_json(_cap_list, '["JSON"]'), lambda x: json_type(x) = 'OBJECT')), true)
            THEN 'captured must be an object or a list of objects'
        WHEN "timestamp" IS NOT NULL AND _ts IS NULL
            THEN 'timestamp is neither ISO 8601 nor epoch seconds/milliseconds'
    END AS _reason
FROM shaped
"""


_INSERT_REQUESTS = f"""
INSERT INTO requests
SELECT ?, _seq, request_id, _ts, user_id, session_id,
    CASE WHEN _input_container THEN input::JSON ELSE to_json(input) END,
    coalesce(list_filter(_messages, lambda m: m.role = 'user')[-1].content->>'$', input),
    metadata::JSON,
    CASE WHEN _ref_container THEN reference::JSON ELSE to_json(reference) END,
    CASE WHEN _ref_parts IS NOT NULL THEN _ref_parts.output ELSE reference END,
    _ref_parts.tool_calls,
    ?, _line
FROM (
    SELECT *,
        CASE WHEN _input_container THEN from_json(input, '{_MESSAGES_SHAPE}').messages END AS _messages,
        CASE WHEN _ref_container THEN from_json(reference, '{_REFERENCE_SHAPE}') END AS _ref_parts
    FROM _checked WHERE _reason IS NULL
)
"""

_INSERT_CAPTURED = f"""
INSERT INTO captured
SELECT ?, request_id,
    coalesce(c.variant, 'prod'), c.output, c.model,
    to_json(c.tool_calls),
    len(c.tool_calls),
    try_cast(try_cast(coalesce(c.usage.input_tokens, c.usage.prompt_tokens) AS DOUBLE) AS BIGINT),
    try_cast(try_cast(coalesce(c.usage.output_tokens, c.usage.completion_tokens) AS DOUBLE) AS BIGINT),
    try_cast(try_cast(c.usage.cached_input_tokens AS DOUBLE) AS BIGINT),
    try_cast(c.cost_usd AS DOUBLE),
    try_cast(c.latency_ms AS DOUBLE),
    CASE json_type(c.error)
        WHEN 'OBJECT' THEN coalesce(c.error->>'type', 'agent_error')
        WHEN 'VARCHAR' THEN CASE WHEN c.error->>'$' = '' THEN NULL ELSE 'agent_error' END
        WHEN 'BOOLEAN' THEN CASE WHEN c.error::VARCHAR = 'true' THEN 'agent_error' END
        WHEN 'NULL' THEN NULL
        ELSE CASE WHEN c.error IS NULL THEN NULL ELSE 'agent_error' END
    END,
    CASE json_type(c.error)
        WHEN 'OBJECT' THEN c.error->>'message'
        WHEN 'VARCHAR' THEN nullif(c.error->>'$', '')
        WHEN 'BOOLEAN' THEN NULL
        WHEN 'NULL' THEN NULL
        ELSE c.error::VARCHAR
    END
FROM (SELECT request_id, unnest(from_json(_cap_list, '{_CAPTURED_SHAPE}')) AS c
      FROM _checked WHERE _reason IS NULL AND _cap_list IS NOT NULL)
"""


class DatasetWriter:
    """Writes one dataset inside one transaction on an open write connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, *, replace: bool) -> None:
        self._con = con
        self.name = name
        self.replace = replace
        self.summary = DatasetSummary(name)
        row = one(con, "SELECT content_hash FROM datasets WHERE name = ?", [name])
        self.existing_hash: str | None = row[0] if row else None

    def begin(self) -> None:
        self._con.execute("BEGIN TRANSACTION")
        if self.existing_hash is not None and self.replace:
            for table in ("requests", "captured", "quarantine"):
                self._con.execute(f"DELETE FROM {table} WHERE dataset = ?", [self.name])
            self._con.execute("DELETE FROM datasets WHERE name = ?", [self.name])
            self.summary.replaced = True

    def rollback(self) -> None:
        self._con.execute("ROLLBACK")

    def add_batch(self, frame: pl.DataFrame, source: str, *, trusted_json: bool = False) -> None:
        """Validate and insert one batch; rows that fail validation go to quarantine."""
        schema = frame.schema
        columns = ", ".join(_as_text(c, schema.get(c)) for c in CANONICAL_COLUMNS)
        trusted = trusted_json and all(schema.get(c) in (None, pl.String, pl.Null) for c in CANONICAL_COLUMNS)
        con = self._con
        lines = f"lines {frame['_line'].min()}-{frame['_line'].max()}" if frame.height else "no lines"
        try:
            with registered(con, "_raw", frame):
                con.execute("CREATE OR REPLACE TEMP VIEW _checked AS " + _checked(columns, trusted))
                con.execute(_INSERT_REQUESTS, [self.name, source])
                con.execute(_INSERT_CAPTURED, [self.name])
                bad = con.execute("SELECT _line, _reason FROM _checked WHERE _reason IS NOT NULL ORDER BY _line").fetchall()
                con.execute("DROP VIEW _checked")
        except duckdb.Error as exc:
            raise IngestError(f"{source} ({lines}): could not load these records: {exc}") from None
        self.summary.n_requests += frame.height - len(bad)
        if bad:
            self.add_malformed([Malformed(source, line, reason, _row_raw(frame, line)) for line, reason in bad])

    def add_malformed(self, rows: list[Malformed]) -> None:
        if not rows:
            return
        self.summary.n_quarantined += len(rows)
        room = 20 - len(self.summary.quarantined)
        self.summary.quarantined.extend(rows[: max(room, 0)])
        table = pl.DataFrame(
            {
                "dataset": [self.name] * len(rows),
                "source": [r.source for r in rows],
                "line": [r.line for r in rows],
                "reason": [r.reason for r in rows],
                "raw": [None if r.raw is None else r.raw[:RAW_LIMIT] for r in rows],
                "raw_bytes": [r.raw_bytes if r.raw_bytes is not None else _len(r.raw) for r in rows],
            },
            schema={"dataset": pl.String, "source": pl.String, "line": pl.Int64, "reason": pl.String,
                    "raw": pl.String, "raw_bytes": pl.Int64},
        )
        with registered(self._con, "_bad", table):
            self._con.execute("INSERT INTO quarantine SELECT *, now() FROM _bad")

    def finish(self, *, content_hash: str, fmt: str, sources: list[str], strict: bool,
               redaction: dict[str, Any] | None = None) -> DatasetSummary:
        """Check duplicates and strictness, record the dataset and commit."""
        con = self._con
        # count only first: listing every id's lines would cost more than the whole check
        repeated = [r[0] for r in con.execute(
            "SELECT request_id FROM requests WHERE dataset = ? GROUP BY request_id HAVING count(*) > 1 LIMIT 11",
            [self.name],
        ).fetchall()]
        duplicates = con.execute(
            "SELECT request_id, list(line ORDER BY line) FROM requests WHERE dataset = ?"
            " AND request_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY request_id ORDER BY min(line)",
            [self.name, repeated],
        ).fetchall() if repeated else []
        if duplicates:
            shown = "; ".join(f"{rid!r} at lines {', '.join(map(str, lines))}" for rid, lines in duplicates[:10])
            more = " and more" if len(duplicates) > 10 else ""
            raise IngestError(f"duplicate request_id in dataset {self.name!r}: {shown}{more}")
        if strict and self.summary.n_quarantined:
            shown = "; ".join(f"{m.source}:{m.line}: {m.reason}" for m in self.summary.quarantined[:10])
            raise IngestError(
                f"--strict: {self.summary.n_quarantined} malformed line(s), nothing ingested: {shown}"
            )
        if self.summary.n_requests == 0:
            raise IngestError(
                f"no valid request in {', '.join(sources)}"
                + (f" ({self.summary.n_quarantined} malformed)" if self.summary.n_quarantined else " (empty)")
            )
        row = one(con, "SELECT count(*) FROM captured WHERE dataset = ?", [self.name])
        self.summary.n_captured = int(row[0]) if row else 0
        con.execute(
            "INSERT INTO datasets (name, content_hash, format, sources, n_requests, n_captured, n_quarantined,"
            " redacted, created_at, redaction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), ?)",
            [self.name, content_hash, fmt, json.dumps(sources), self.summary.n_requests,
             self.summary.n_captured, self.summary.n_quarantined, redaction is not None,
             None if redaction is None else json.dumps(redaction)],
        )
        con.execute("COMMIT")
        return self.summary

    def check_existing(self, content_hash: str) -> bool:
        """True when the dataset already holds exactly this content (a no-op)."""
        if self.existing_hash is None or self.replace:
            return False
        if self.existing_hash == content_hash:
            self.summary.unchanged = True
            return True
        raise DatasetExistsError(
            f"dataset {self.name!r} already exists with different content;"
            " datasets are immutable: choose another --name or pass --replace"
        )


def _row_raw(frame: pl.DataFrame, line: int) -> str | None:
    """The offending record as JSON, for the quarantine."""
    rows = frame.filter(pl.col("_line") == line).drop("_line", "_seq", strict=False).to_dicts()
    return json.dumps(rows[0], default=str, ensure_ascii=False) if rows else None


def _len(text: str | None) -> int | None:
    return None if text is None else len(text.encode("utf-8", "replace"))


