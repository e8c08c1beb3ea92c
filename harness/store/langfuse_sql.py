"""Langfuse traces (JSON Lines) converted in SQL: what harness.capture.langfuse makes of a trace
without observations, at DuckDB's speed.

DuckDB parses a block of traces (its files) into Arrow on a connection of its own (a refused block
leaves the writer's transaction open, and the next block is parsed while this one is inserted, as
in harness.store.bulk_load), then SQL converts the traces
the Python converter would convert the same way: string or integer ids, an ISO 8601 timestamp, a
text or chat-message input, metadata without the keys the converter adds (name, tags, release,
version), an output that is text, text parts or an object holding either under a text key,
numeric cost and latency, and no observation objects. Every other trace is `_simple = false`, and
the caller hands its line to the Python converter, so whatever is unusual is decided (and
quarantined) by one implementation. The converted rows go through the same normalizing SQL as
every reader's (DatasetWriter.insert_raw).

DuckDB parses JSON text again on every function call, so the checks read a value's kind from its
first character wherever they can: DuckDB writes the JSON it parsed without leading whitespace.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from harness.capture.langfuse import EXTRA_KEYS, TEXT_KEYS, TRACE_KEYS
from harness.store.bulk_load import brackets, lenient_text
from harness.store.connection import registered
from harness.store.datasets import DatasetWriter
from harness.store.normalize import CAPTURED_TYPE

__all__ = ["insert_traces", "stage_traces"]

_TEXT_FIELDS = ("id", "timestamp", "userId", "sessionId")
"""Read as text: a string as it is, a number as its digits (what values.identifier gives for an
integer; text that may be another number, a boolean or JSON is left to Python)."""
_KEYS = ("input", "output", "metadata", "tags", "name", "release", "version", "latency", "totalCost",
         "observations", "projectId", "htmlPath")
_COLUMNS = "{" + ", ".join([f"\"{key}\": 'VARCHAR'" for key in _TEXT_FIELDS]
                           + [f"\"{key}\": 'JSON'" for key in _KEYS]) + "}"
_MESSAGE_LIST = '[{"role": "JSON", "content": "JSON"}]'
_MESSAGES = '{"messages": ' + _MESSAGE_LIST + "}"
_PARTS = '[{"type": "JSON", "text": "JSON"}]'
_CANONICAL = "request_id, timestamp, user_id, session_id, input, metadata, reference, captured"
# Text the Python converter would try to decode as JSON (values.json_value): it starts, after any
# whitespace Python's str.lstrip removes, with a bracket or a quote.
_JSON_LIKE = r"'^[\s\x0b\x1c-\x1f\x{85}\pZ]*[\[{\"]'"
_NOT_AN_ID = r"'^(true|false)$|^-?[0-9]+[.eE]|^[\[{]'"
_ISO_TIME = r"'\d{4}-\d\d-\d\d[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)?'"


def _starts(value: str, char: str) -> str:
    """The JSON value's kind from its first character: `{` an object, `[` a list, `"` a string."""
    return f"starts_with({value}, '{char}')"


def _numeric(value: str) -> str:
    """A JSON number or boolean (values.number reads a boolean as missing)."""
    return f"regexp_matches({value}, '^[-0-9tf]')"


def _number(value: str) -> str:
    """values.number of a JSON number or boolean: the finite numbers."""
    return (f"CASE WHEN regexp_matches({value}, '^[-0-9]') AND isfinite(try_cast({value} AS DOUBLE))"
            f" THEN {value}::DOUBLE END")


def _plain(text: str) -> str:
    """True for text the converter keeps as it is (not JSON-looking)."""
    return f"NOT regexp_matches({text}, {_JSON_LIKE})"


def _id_ok(value: str) -> str:
    return f"({value} IS NULL OR NOT regexp_matches({value}, {_NOT_AN_ID}))"


def _extra(key: str) -> str:
    """`,"key":value` for a trace field the converter adds to the metadata, or NULL when it leaves it out."""
    return f"""CASE WHEN "{key}" IS NOT NULL AND "{key}" NOT IN ('""', '[]') THEN ',"{key}":' || "{key}" END"""


_PICKED = ("CASE WHEN regexp_matches(_content, '^[\\[{\"]') THEN _content " + " ".join(
    f"WHEN regexp_matches(output->'{key}', '^[\\[{{\"]') THEN output->'{key}'" for key in TEXT_KEYS[1:]) + " END")
"""The value under the first text key of an output object that holds a string, a list or an object."""
_EXTRAS = ", ".join(_extra(key) for key in EXTRA_KEYS)
_NO_EXTRA_IN_METADATA = " AND ".join(f"""NOT contains(metadata, '"{key}"')""" for key in EXTRA_KEYS)
_NO_OBJECT_EXTRA = " AND ".join(f"""NOT starts_with(coalesce("{key}"::VARCHAR, ''), '{{')""" for key in EXTRA_KEYS)
_A_TRACE_KEY = " OR ".join(f'"{key}" IS NOT NULL' for key in TRACE_KEYS)

_MESSAGES_OK = ("coalesce(len(_messages) > 0 AND list_bool_and(list_transform(_messages,"
                " lambda m: m.role IS NOT NULL AND m.content IS NOT NULL)), false)")
"""langfuse._is_chat: a non-empty list of objects with a role and a content (a role or content that
is null reads as missing: such a list is left to Python)."""
_PARTS_OK = ("coalesce(len(_parts) > 0 AND list_bool_and(list_transform(_parts,"
             " lambda p: p.type::VARCHAR = '\"text\"' AND starts_with(p.text, '\"'))), false)")
"""A non-empty list of `{"type": "text", "text": "..."}` parts (no element has a role: the text
`"role"` anywhere leaves the output to Python, since a list of messages reads as a conversation)."""

_CONVERTED = f"""
SELECT *,
    CASE WHEN {_starts("input", chr(34))} THEN input->>'$'
         WHEN {_starts("input", "{")} THEN CASE WHEN json_keys(input) = ['messages'] THEN input::VARCHAR
                                                ELSE json_object('messages', input->'messages')::VARCHAR END
         ELSE json_object('messages', input)::VARCHAR END AS _input,
    CASE WHEN metadata IS NOT NULL AND metadata <> '{{}}' THEN left(metadata, length(metadata) - 1) || _extras || '}}'
         WHEN _extras <> '' THEN '{{' || substr(_extras, 2) || '}}' END AS _metadata,
    CASE WHEN {_starts("_output", "[")} AND NOT contains(_output, '"role"') THEN from_json(_output, '{_PARTS}') END AS _parts
FROM (
    SELECT *, concat({_EXTRAS}) AS _extras,
        CASE WHEN {_starts("output", "{")} THEN {_PICKED} ELSE output END AS _output,
        CASE WHEN {_starts("input", "{")} THEN from_json(input, '{_MESSAGES}').messages
             WHEN {_starts("input", "[")} THEN from_json(input, '{_MESSAGE_LIST}') END AS _messages
    FROM (SELECT *, CASE WHEN {_starts("output", "{")} THEN output->'content' END AS _content FROM _stage)
)
"""

_SIMPLE = f"""
    trim(id) <> '' AND {_id_ok("id")} AND try_cast(timestamp AS TIMESTAMPTZ) IS NOT NULL
    AND regexp_full_match(timestamp, {_ISO_TIME})
    AND ({_A_TRACE_KEY}) AND {_id_ok('"userId"')} AND {_id_ok('"sessionId"')}
    AND (observations IS NULL OR ({_starts("observations", "[")} AND NOT contains(observations, '{{')))
    AND CASE WHEN {_starts("input", chr(34))} THEN {_plain("_input")} ELSE {_MESSAGES_OK} END
    AND (metadata IS NULL OR ({_starts("metadata", "{")} AND {_NO_EXTRA_IN_METADATA}))
    AND {_NO_OBJECT_EXTRA}
    AND CASE WHEN output IS NULL THEN true
             WHEN {_starts("output", "{")} AND (output->'messages') IS NOT NULL THEN false
             WHEN {_starts("_output", chr(34))} THEN {_plain("_output->>'$'")}
             ELSE {_PARTS_OK} END
    AND ("totalCost" IS NULL OR {_numeric('"totalCost"')}) AND (latency IS NULL OR {_numeric("latency")})
"""

_TEXT = (f"CASE WHEN {_starts('_output', chr(34))} THEN _output->>'$'"
         " WHEN _parts IS NOT NULL THEN array_to_string(list_transform(_parts, lambda p: p.text->>'$'), '') END")
"""langfuse._text of a string or of text parts."""

_DEEP = " OR ".join(brackets(key) for key in ("input", "output", "metadata", "observations", "tags"))

_STAGED = f"""
SELECT coalesce({_SIMPLE}, false) AND NOT coalesce({_DEEP}, false) AS _simple,
    id AS request_id, timestamp, "userId" AS user_id, "sessionId" AS session_id,
    _input AS input, _metadata AS metadata, NULL::VARCHAR AS reference,
    {{'variant': 'prod', 'output': CASE WHEN output IS NOT NULL THEN {_TEXT} END, 'model': NULL,
      'tool_calls': NULL, 'usage': NULL, 'cost_usd': ({_number('"totalCost"')})::VARCHAR,
      'latency_ms': round_even({_number("latency")} * 1000, 3)::VARCHAR, 'error': NULL}}::{CAPTURED_TYPE} AS captured
FROM ({_CONVERTED})
"""
"""The converted traces in file order (insertion order is preserved); a trace whose values may nest
deeper than Python's parser reads is left to it too."""


def stage_traces(parser: duckdb.DuckDBPyConnection, files: list[Path], n_lines: int,
                 max_line_bytes: int) -> pa.Table | None:
    """A block of `n_lines` traces (its files, in order) parsed and converted by DuckDB on `parser`
    (harness.store.bulk_load.parser_for: it may work in another thread while the writer inserts):
    the canonical columns, `_n` (the row's line in the block) and `_simple` (the conversion is the
    Python converter's); None when the block must go line by line to the Python converter (DuckDB
    refused it, it has blank lines, or it may hold what only DuckDB's parser accepts)."""
    read = (f"SELECT * FROM read_json(?, format = 'newline_delimited', columns = {_COLUMNS},"
            " maximum_object_size = ?)")
    try:
        staged = parser.sql(_STAGED.replace("FROM _stage", f"FROM ({read})"),
                            params=[[str(f) for f in files], max_line_bytes + 2]).to_arrow_table()
        if staged.num_rows != n_lines or lenient_text(parser, files):  # blank lines: rows are not lines
            return None
    except duckdb.Error:
        return None
    return staged.append_column("_n", pa.array(np.arange(n_lines, dtype=np.int64)))


def insert_traces(writer: DatasetWriter, staged: pa.Table, seqs: np.ndarray, n_rows: int, *, source: str,
                  first_line: int) -> None:
    """Insert the `n_rows` staged traces marked `_simple`, row i numbered `seqs[i]`."""
    con = writer.connection
    table = staged.append_column("_seq", pa.array(seqs, type=pa.int64()))
    with registered(con, "_stage", table):
        con.execute(f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT {_CANONICAL}, _n + {int(first_line)} AS _line, _seq"
                    " FROM _stage WHERE _simple")
        bad = writer.insert_raw(_CANONICAL, True, source, f"lines {first_line}-{first_line + staged.num_rows - 1}",
                                n_rows, typed_captured=True)
        con.execute("DROP VIEW _raw")
    if bad:  # _SIMPLE admits only rows the checks accept: a refusal here is a bug in it
        raise AssertionError(f"{source}: the SQL conversion refused converted traces: {bad[:3]}")
