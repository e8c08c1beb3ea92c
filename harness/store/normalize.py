"""The SQL that normalizes raw canonical rows (a relation `_raw`) into requests and captured.

Shared by the batch writer (polars frames from the Python readers) and the bulk loader
(DuckDB's own JSON reader): one definition of what a valid request is and why a row is refused.
"""

from __future__ import annotations

import json

from harness.store._polars import pl

__all__ = ["CAPTURED_TYPE", "INSERT_REQUESTS", "as_text", "checked_sql", "insert_captured"]


def as_text(name: str, dtype: pl.DataType | None) -> str:
    """SQL giving the text of a canonical column, whatever type the reader gave it."""
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
#: The same captured object as a DuckDB type, into which DuckDB's JSON reader parses a log's captured
#: objects directly (harness.store.bulk_load), sparing the text in between.
CAPTURED_TYPE = ("STRUCT(variant VARCHAR, output VARCHAR, model VARCHAR, tool_calls JSON[], usage STRUCT("
                 "input_tokens VARCHAR, output_tokens VARCHAR, cached_input_tokens VARCHAR, prompt_tokens VARCHAR,"
                 " completion_tokens VARCHAR), cost_usd VARCHAR, latency_ms VARCHAR, error JSON)")
_MESSAGES_SHAPE = json.dumps({"messages": [{"role": "VARCHAR", "content": "JSON"}]})
_REFERENCE_SHAPE = json.dumps({"output": "VARCHAR", "tool_calls": "JSON"})


def _container(column: str, trusted: bool) -> str:
    """True when a text column holds a JSON object or array. Text a JSON parser already produced
    needs only its first character checked; anything else is validated once."""
    starts = f"(starts_with(ltrim({column}), '{{') OR starts_with(ltrim({column}), '['))"
    return starts if trusted else f"({starts} AND json_valid({column}))"


def checked_sql(columns: str, trusted: bool, typed_captured: bool = False) -> str:
    """The batch with cheap shape checks and the quarantine reason. The nested columns are parsed
    later, once each, by the statement that needs them, into a typed structure (DuckDB parses
    JSON text again on every function call, so field-by-field extraction would parse a dozen
    times, and materializing the parsed structures costs more than parsing). With
    `typed_captured`, `captured` is already a CAPTURED_TYPE object: nothing to check."""
    obj = _container("metadata", trusted).replace("OR starts_with(ltrim(metadata), '[')", "")
    cap_list = "NULL::VARCHAR" if typed_captured else f"""CASE WHEN captured IS NULL OR NOT {_container("captured", trusted)} THEN NULL
             WHEN starts_with(ltrim(captured), '[') THEN captured ELSE '[' || captured || ']' END"""
    cap_reasons = "" if typed_captured else """WHEN captured IS NOT NULL AND _cap_list IS NULL
            THEN 'captured must be an object or a list of objects'
        WHEN starts_with(ltrim(captured), '[') AND NOT coalesce(list_bool_and(list_transform(
                from_json(_cap_list, '["JSON"]'), lambda x: json_type(x) = 'OBJECT')), true)
            THEN 'captured must be an object or a list of objects'"""
    return f"""
WITH src AS (SELECT {columns}, _line, _seq FROM _raw),
shaped AS (
    SELECT *,
        {_container("input", trusted)} AS _input_container,
        {_container("reference", trusted)} AS _ref_container,
        metadata IS NULL OR {obj} AS _meta_ok,
        {cap_list} AS _cap_list,
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
        {cap_reasons}
        WHEN "timestamp" IS NOT NULL AND _ts IS NULL
            THEN 'timestamp is neither ISO 8601 nor epoch seconds/milliseconds'
    END AS _reason
FROM shaped
"""


INSERT_REQUESTS = f"""
INSERT INTO requests
SELECT ?, _seq, request_id, _ts, user_id, session_id,
    CASE WHEN _input_container THEN input::JSON ELSE to_json(input) END,
    coalesce(list_filter(_messages, lambda m: m.role = 'user')[-1].content->>'$',
             CASE WHEN _input_container THEN json(input)::VARCHAR ELSE input END),
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

_INSERT_CAPTURED = """
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
FROM ({source})
"""
_CAPTURED_LISTS = f"SELECT request_id, unnest(from_json(_cap_list, '{_CAPTURED_SHAPE}')) AS c FROM _checked"


def insert_captured(all_valid: bool, typed_captured: bool = False) -> str:
    """The captured insert; when every row passed the checks it skips them (only the captured
    column is then computed). With `typed_captured` the objects are already parsed."""
    valid = "" if all_valid else "_reason IS NULL AND"
    source = (f"SELECT request_id, captured AS c FROM _checked WHERE {valid} captured IS NOT NULL" if typed_captured
              else f"{_CAPTURED_LISTS} WHERE {valid} _cap_list IS NOT NULL")
    return _INSERT_CAPTURED.replace("{source}", source)
