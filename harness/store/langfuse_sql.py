"""Langfuse traces (JSON Lines) converted in SQL: what harness.capture.langfuse makes of a trace
without observations, at DuckDB's speed.

DuckDB parses a block of traces (harness.store.converted_sql), then SQL converts the traces the
Python converter would convert the same way: string or integer ids, an ISO 8601 timestamp, a
text or chat-message input, metadata without the keys the converter adds (name, tags, release,
version), an output that is text, text parts or an object holding either under a text key,
numeric cost and latency, and no observation objects. Every other trace is `_simple = false`, and
the caller hands its line to the Python converter, so whatever is unusual is decided (and
quarantined) by one implementation.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from harness.capture.langfuse import EXTRA_KEYS, TEXT_KEYS, TRACE_KEYS
from harness.store.converted_sql import ISO_TIME, number, numeric, plain, stage_converted, starts
from harness.store.normalize import CAPTURED_TYPE

__all__ = ["stage_traces"]

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
_NOT_AN_ID = r"'^(true|false)$|^-?[0-9]+[.eE]|^[\[{]'"


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
    CASE WHEN {starts("input", chr(34))} THEN input->>'$'
         WHEN {starts("input", "{")} THEN CASE WHEN json_keys(input) = ['messages'] THEN input::VARCHAR
                                                ELSE json_object('messages', input->'messages')::VARCHAR END
         ELSE json_object('messages', input)::VARCHAR END AS _input,
    CASE WHEN metadata IS NOT NULL AND metadata <> '{{}}' THEN left(metadata, length(metadata) - 1) || _extras || '}}'
         WHEN _extras <> '' THEN '{{' || substr(_extras, 2) || '}}' END AS _metadata,
    CASE WHEN {starts("_output", "[")} AND NOT contains(_output, '"role"') THEN from_json(_output, '{_PARTS}') END AS _parts
FROM (
    SELECT *, concat({_EXTRAS}) AS _extras,
        CASE WHEN {starts("output", "{")} THEN {_PICKED} ELSE output END AS _output,
        CASE WHEN {starts("input", "{")} THEN from_json(input, '{_MESSAGES}').messages
             WHEN {starts("input", "[")} THEN from_json(input, '{_MESSAGE_LIST}') END AS _messages
    FROM (SELECT *, CASE WHEN {starts("output", "{")} THEN output->'content' END AS _content FROM _stage)
)
"""

_SIMPLE = f"""
    trim(id) <> '' AND {_id_ok("id")} AND try_cast(timestamp AS TIMESTAMPTZ) IS NOT NULL
    AND regexp_full_match(timestamp, {ISO_TIME})
    AND ({_A_TRACE_KEY}) AND {_id_ok('"userId"')} AND {_id_ok('"sessionId"')}
    AND (observations IS NULL OR ({starts("observations", "[")} AND NOT contains(observations, '{{')))
    AND CASE WHEN {starts("input", chr(34))} THEN {plain("_input")} ELSE {_MESSAGES_OK} END
    AND (metadata IS NULL OR ({starts("metadata", "{")} AND {_NO_EXTRA_IN_METADATA}))
    AND {_NO_OBJECT_EXTRA}
    AND CASE WHEN output IS NULL THEN true
             WHEN {starts("output", "{")} AND (output->'messages') IS NOT NULL THEN false
             WHEN {starts("_output", chr(34))} THEN {plain("_output->>'$'")}
             ELSE {_PARTS_OK} END
    AND ("totalCost" IS NULL OR {numeric('"totalCost"')}) AND (latency IS NULL OR {numeric("latency")})
"""

_TEXT = (f"CASE WHEN {starts('_output', chr(34))} THEN _output->>'$'"
         " WHEN _parts IS NOT NULL THEN array_to_string(list_transform(_parts, lambda p: p.text->>'$'), '') END")
"""langfuse._text of a string or of text parts."""

_STAGED = f"""
SELECT coalesce({_SIMPLE}, false) AS _simple,
    id AS request_id, timestamp, "userId" AS user_id, "sessionId" AS session_id,
    _input AS input, _metadata AS metadata, NULL::VARCHAR AS reference,
    {{'variant': 'prod', 'output': CASE WHEN output IS NOT NULL THEN {_TEXT} END, 'model': NULL,
      'tool_calls': NULL, 'usage': NULL, 'cost_usd': ({number('"totalCost"')})::VARCHAR,
      'latency_ms': round_even({number("latency")} * 1000, 3)::VARCHAR, 'error': NULL}}::{CAPTURED_TYPE} AS captured
FROM ({_CONVERTED})
"""
"""The converted traces in file order (insertion order is preserved)."""


def stage_traces(parser: duckdb.DuckDBPyConnection, files: list[Path], n_lines: int,
                 max_line_bytes: int) -> pa.Table | None:
    """A block of `n_lines` traces converted by DuckDB (see converted_sql.stage_converted)."""
    return stage_converted(parser, files, n_lines, max_line_bytes, _COLUMNS, _STAGED)
