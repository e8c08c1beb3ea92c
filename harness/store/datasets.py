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


def _jsonish(col: str) -> str:
    """A container (object or array) stays JSON; any other text becomes a JSON string."""
    return f"CASE WHEN ltrim({col})[1] IN ('{{', '[') AND json_valid({col}) THEN {col}::JSON ELSE to_json({col}) END"

_VALIDATED = f"""
WITH src AS (SELECT __COLUMNS__, _line, _seq FROM _raw),
typed AS (
    SELECT *,
        {_jsonish("input")} AS _input,
        try_cast(metadata AS JSON) AS _meta,
        try_cast(captured AS JSON) AS _cap,
        {_jsonish("reference")} AS _ref,
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
        WHEN ltrim(request_id)[1] IN ('{{', '[') AND json_valid(request_id)
            THEN 'request_id must be a string or a number'
        WHEN input IS NULL THEN 'missing input'
        WHEN metadata IS NOT NULL AND coalesce(json_type(_meta), '') <> 'OBJECT'
            THEN 'metadata must be a JSON object'
        WHEN captured IS NOT NULL AND coalesce(json_type(_cap), '') NOT IN ('OBJECT', 'ARRAY')
            THEN 'captured must be an object or a list of objects'
        WHEN json_type(_cap) = 'ARRAY' AND NOT list_bool_and(
                list_transform(from_json(_cap, '["JSON"]'), lambda x: json_type(x) = 'OBJECT'))
            THEN 'captured must be an object or a list of objects'
        WHEN "timestamp" IS NOT NULL AND _ts IS NULL
            THEN 'timestamp is neither ISO 8601 nor epoch seconds/milliseconds'
    END AS _reason
FROM typed
"""

_INSERT_REQUESTS = """
INSERT INTO requests
SELECT ?, _seq, request_id, _ts, user_id, session_id, _input,
    CASE WHEN json_type(_input, '$.messages') = 'ARRAY'
            THEN list_filter(from_json(_input->'$.messages', '["JSON"]'),
                             lambda m: m->>'role' = 'user')[-1]->>'content'
         WHEN json_type(_input) = 'VARCHAR' THEN _input->>'$'
         ELSE _input::VARCHAR END,
    _meta, _ref,
    CASE WHEN json_type(_ref) = 'OBJECT' THEN _ref->>'output' ELSE _ref->>'$' END,
    CASE WHEN json_type(_ref) = 'OBJECT' THEN _ref->'tool_calls' END,
    ?, _line
FROM _batch WHERE _reason IS NULL
"""

_INSERT_CAPTURED = """
INSERT INTO captured
SELECT ?, request_id,
    coalesce(c->>'variant', 'prod'),
    c->>'output',
    c->>'model',
    CASE WHEN json_type(c->'tool_calls') = 'ARRAY' THEN c->'tool_calls' END,
    CASE WHEN json_type(c->'tool_calls') = 'ARRAY' THEN json_array_length(c->'tool_calls') END,
    try_cast(coalesce(c->>'$.usage.input_tokens', c->>'$.usage.prompt_tokens') AS BIGINT),
    try_cast(coalesce(c->>'$.usage.output_tokens', c->>'$.usage.completion_tokens') AS BIGINT),
    try_cast(c->>'$.usage.cached_input_tokens' AS BIGINT),
    try_cast(c->>'cost_usd' AS DOUBLE),
    try_cast(c->>'latency_ms' AS DOUBLE),
    CASE WHEN json_type(c->'error') = 'OBJECT' THEN coalesce(c->>'$.error.type', 'agent_error')
         WHEN coalesce(json_type(c->'error'), 'NULL') = 'NULL' OR (c->>'error') IN ('', 'false') THEN NULL
         ELSE 'agent_error' END,
    CASE WHEN json_type(c->'error') = 'OBJECT' THEN c->>'$.error.message'
         WHEN coalesce(json_type(c->'error'), 'NULL') = 'NULL' OR (c->>'error') IN ('', 'false') THEN NULL
         ELSE c->>'error' END
FROM (
    SELECT request_id,
        unnest(from_json(CASE WHEN json_type(_cap) = 'ARRAY' THEN _cap ELSE json_array(_cap) END, '["JSON"]')) AS c
    FROM _batch WHERE _reason IS NULL AND _cap IS NOT NULL
)
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

    def add_batch(self, frame: pl.DataFrame, source: str) -> None:
        """Validate and insert one batch; rows that fail validation go to quarantine."""
        schema = frame.schema
        columns = ", ".join(_as_text(c, schema.get(c)) for c in CANONICAL_COLUMNS)
        con = self._con
        with registered(con, "_raw", frame):
            con.execute("CREATE OR REPLACE TEMP TABLE _batch AS " + _VALIDATED.replace("__COLUMNS__", columns))
        con.execute(_INSERT_REQUESTS, [self.name, source])
        con.execute(_INSERT_CAPTURED, [self.name])
        bad = con.execute(
            "SELECT _line, _reason, request_id FROM _batch WHERE _reason IS NOT NULL ORDER BY _line"
        ).fetchall()
        counts = one(con, "SELECT count(*) FILTER (WHERE _reason IS NULL) FROM _batch")
        self.summary.n_requests += int(counts[0]) if counts else 0
        if bad:
            self.add_malformed(
                [Malformed(source, line, reason, _row_raw(frame, line)) for line, reason, _ in bad]
            )
        con.execute("DROP TABLE _batch")

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

    def finish(self, *, content_hash: str, fmt: str, sources: list[str], strict: bool) -> DatasetSummary:
        """Check duplicates and strictness, record the dataset and commit."""
        con = self._con
        duplicates = con.execute(
            "SELECT request_id, list(line ORDER BY line) FROM requests WHERE dataset = ?"
            " GROUP BY request_id HAVING count(*) > 1 ORDER BY min(line) LIMIT 11",
            [self.name],
        ).fetchall()
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
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, false, now())",
            [self.name, content_hash, fmt, json.dumps(sources), self.summary.n_requests,
             self.summary.n_captured, self.summary.n_quarantined],
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


