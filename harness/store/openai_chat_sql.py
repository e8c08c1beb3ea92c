"""OpenAI chat logs (JSON Lines) converted in SQL: what harness.capture.openai_chat makes of an
entry, at DuckDB's speed.

DuckDB parses a block of entries (harness.store.converted_sql), the request and the response
straight into the structures the conversion reads, then SQL converts the entries the Python
converter would convert the same way: a request with a non-empty list of messages; a response with
at most one choice (more go to the metadata in Python), whose message has text or null content and
no legacy function call, and whose tool calls' arguments are JSON text decoded as Python decodes
them; or, instead of the completion, an error object with a text message and a text type or code,
an error text, or an HTTP status of 400 or more. Ids are text or integers, the time ISO 8601 or
integer epoch seconds, token counts integers, cost and latency numbers (a latency in seconds only
where Python's rounding to the microsecond changes nothing), and the two metadata objects share no
key. Every other entry is `_simple = false`, and the caller hands its line to the Python converter,
so whatever is unusual is decided (and quarantined) by one implementation. A block where a request
or a response does not fit the structures (a request that is text, say) is refused by DuckDB and
goes line by line to Python.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from harness.capture.documents import ENVELOPE_KEYS
from harness.store.bulk_load import lenient
from harness.store.converted_sql import ISO_TIME, id_text, number, numeric, stage_converted, starts
from harness.store.normalize import CAPTURED_TYPE

__all__ = ["stage_entries"]

_JSON_KEYS = ("id", "request_id", "timestamp", "created_at", "user_id", "session_id", "metadata", "cost_usd", "cost",
              "latency_ms", "duration_ms", "duration", "status_code", "error", *ENVELOPE_KEYS)
_REQUEST = "STRUCT(model JSON, messages JSON, \"user\" JSON, metadata JSON)"
_USAGE = ("STRUCT(prompt_tokens JSON, completion_tokens JSON, input_tokens JSON, output_tokens JSON,"
          " prompt_tokens_details JSON, input_tokens_details JSON)")
_MESSAGE = ("STRUCT(content JSON, refusal JSON, function_call JSON,"
            " tool_calls STRUCT(\"function\" STRUCT(name JSON, arguments JSON))[])")
_RESPONSE = (f"STRUCT(id JSON, created JSON, model JSON, error JSON, status_code JSON, usage {_USAGE},"
             f" choices STRUCT(message {_MESSAGE})[])")
_COLUMNS = "{" + ", ".join([f"\"{key}\": 'JSON'" for key in _JSON_KEYS]
                           + [f"request: '{_REQUEST}'", f"response: '{_RESPONSE}'"]) + "}"

_BRACKETED = r"'^[\s\x0b\x1c-\x1f\x{85}\pZ]*[\[{]'"
"""Text values.decoded tries to decode: after what str.lstrip removes, a bracket."""
_UNSURE = r"'[eE][+-]?[0-9]{3}|[0-9]{300}|\\u[dD][89a-fA-F]'"
"""JSON text that Python's parser reads otherwise than DuckDB's: an exponent that may overflow a
float, digits past Python's limit for an integer, and surrogate escapes."""


def _integer(value: str) -> str:
    return f"regexp_full_match({value}, '-?[0-9]+')"


def _arguments_ok(value: str) -> str:
    """values.decoded of these arguments is what _arguments gives: not text to decode, or text whose
    decoding DuckDB's parser decides as Python's does."""
    text = f"({value}->>'$')"
    return (f"({value} IS NULL OR NOT {starts(value, chr(34))} OR NOT regexp_matches({text}, {_BRACKETED})"
            f" OR NOT (regexp_matches({text}, {_UNSURE}) OR {lenient(text)}))")


def _arguments(value: str) -> str:
    """values.decoded: JSON text of an object or a list decoded, anything else as it is."""
    text = f"({value}->>'$')"
    return (f"CASE WHEN {starts(value, chr(34))} AND regexp_matches({text}, {_BRACKETED}) AND json_valid({text})"
            f" THEN json({text}) ELSE {value} END")


_PICKED = """
SELECT *,
    coalesce(request_id, id, response.id) AS _id,
    coalesce("timestamp", created_at, response.created) AS _time,
    coalesce(user_id, request."user") AS _user,
    coalesce(error, response.error) AS _stated,
    coalesce(status_code, response.status_code) AS _status,
    response.choices[1].message AS _message,
    CASE WHEN starts_with(request.metadata, '{') AND request.metadata <> '{}' THEN request.metadata END AS _meta_r,
    CASE WHEN starts_with(metadata, '{') AND metadata <> '{}' THEN metadata END AS _meta_e,
    coalesce(latency_ms, duration_ms) AS _millis,
    coalesce(cost_usd, cost) AS _cost,
    coalesce(response.usage.prompt_tokens, response.usage.input_tokens) AS _in,
    coalesce(response.usage.completion_tokens, response.usage.output_tokens) AS _out,
    coalesce(response.usage.prompt_tokens_details, response.usage.input_tokens_details) AS _details
FROM _stage
"""

_STATUS = "CASE WHEN regexp_full_match(_status, '0|-?[1-9][0-9]{0,17}') THEN _status::BIGINT END"
_FALLBACK = "CASE WHEN _status_n IS NOT NULL THEN 'http_' || _status_n ELSE 'api_error' END"
_KIND = "coalesce(_stated->'type', _stated->'code')"
_ERROR = f"""CASE
    WHEN _stated IS NULL THEN CASE WHEN _status_n >= 400
        THEN json_object('type', 'http_' || _status_n, 'message', 'HTTP status ' || _status_n) END
    WHEN {starts("_stated", chr(34))} AND _stated <> '""' THEN json_object('type', {_FALLBACK}, 'message', _stated->>'$')
    WHEN {starts("_stated", "{")} AND {starts("_stated->'message'", chr(34))}
         AND ({_KIND} IS NULL OR {starts(_KIND, chr(34))})
        THEN json_object('type', coalesce({_KIND}->>'$', {_FALLBACK}), 'message', _stated->'message'->>'$')
END"""
"""openai_chat.api_error of the stated error, or of `HTTP status N`: NULL for no error, and for an
error of another form (left to Python)."""

_DERIVED = f"""
SELECT *, {_ERROR} AS _error, {id_text("_id")} AS _rid, coalesce(response.model, request.model) AS _model,
    CASE WHEN {starts("_details", "{")} THEN _details->'cached_tokens' END AS _cached,
    {number("_millis")} AS _millis_n, {number("duration")} AS _seconds
FROM (SELECT *, {_STATUS} AS _status_n FROM ({_PICKED}))
"""

_COMPLETION = f"""
    _stated IS NULL AND (_status IS NULL OR _status_n < 400) AND response.choices IS NOT NULL
    AND len(response.choices) <= 1
    AND (_message.function_call IS NULL OR NOT {starts("_message.function_call", "{")})
    AND (_message.content IS NULL OR {starts("_message.content", chr(34))})
    AND (_model IS NULL OR {starts("_model", chr(34))})
    AND coalesce(list_bool_and(list_transform(_message.tool_calls, lambda c: {_arguments_ok('c."function".arguments')})),
                 true)
    AND (_in IS NULL OR {_integer("_in")}) AND (_out IS NULL OR {_integer("_out")})
    AND (_cached IS NULL OR {_integer("_cached")})
"""
"""The completion's answer, as completion_captured reads it."""

_FAILED = f"""
    _error IS NOT NULL AND (_status IS NULL OR _status_n IS NOT NULL) AND (error IS NOT NULL OR response IS NOT NULL)
    AND (request.model IS NULL OR {starts("request.model", chr(34))})
"""
"""The error that came instead of the completion (an entry with an error or a response)."""

_SIMPLE = f"""
    request IS NOT NULL AND {starts("request.messages", "[")} AND request.messages <> '[]'
    AND {" AND ".join(f'("{key}" IS NULL OR NOT {starts(chr(34) + key + chr(34), "[")})' for key in ENVELOPE_KEYS)}
    AND trim(_rid) <> '' AND NOT starts_with(ltrim(_rid), '{{') AND NOT starts_with(ltrim(_rid), '[')
    AND (_time IS NULL OR CASE WHEN {starts("_time", chr(34))}
            THEN regexp_full_match(_time->>'$', {ISO_TIME}) AND try_cast(_time->>'$' AS TIMESTAMPTZ) IS NOT NULL
            ELSE regexp_full_match(_time, '[0-9]{{1,11}}') AND _time::BIGINT <= 100000000000 END)
    AND (_user IS NULL OR {id_text("_user")} IS NOT NULL)
    AND (session_id IS NULL OR {id_text("session_id")} IS NOT NULL)
    AND (_meta_r IS NULL OR _meta_e IS NULL OR NOT list_has_any(json_keys(_meta_r), json_keys(_meta_e)))
    AND (_cost IS NULL OR {numeric("_cost")}) AND (_millis IS NULL OR {numeric("_millis")})
    AND (_millis_n IS NOT NULL OR duration IS NULL OR ({numeric("duration")} AND (_seconds IS NULL
         OR (abs(_seconds) < 1e12 AND round_even(_seconds * 1000, 3) = _seconds * 1000))))
    AND CASE WHEN _error IS NOT NULL THEN {_FAILED} ELSE {_COMPLETION} END
"""

_OUTPUT = f"""CASE
    WHEN {starts("_message.content", chr(34))} AND _message.content <> '""' THEN _message.content->>'$'
    WHEN {starts("_message.refusal", chr(34))} AND _message.refusal <> '""' THEN _message.refusal->>'$'
    ELSE _message.content->>'$' END"""
"""openai_chat._message_text of a message with text or null content."""

_TOOL_CALLS = ("""list_transform(list_filter(coalesce(_message.tool_calls, []), lambda c: c IS NOT NULL),"""
               f""" lambda c: json_object('name', c."function".name, 'arguments', {_arguments('c."function".arguments')}))""")

_STAGED = f"""
SELECT coalesce({_SIMPLE}, false) AS _simple,
    _rid AS request_id,
    CASE WHEN {starts("_time", chr(34))} THEN _time->>'$' ELSE _time::VARCHAR END AS timestamp,
    {id_text("_user")} AS user_id, {id_text("session_id")} AS session_id,
    '{{"messages":' || request.messages || '}}' AS input,
    CASE WHEN _meta_r IS NOT NULL AND _meta_e IS NOT NULL
         THEN left(_meta_r, length(_meta_r) - 1) || ',' || substr(_meta_e, 2) ELSE coalesce(_meta_r, _meta_e) END
        AS metadata,
    NULL::VARCHAR AS reference,
    {{'variant': 'prod', 'output': CASE WHEN _error IS NULL THEN {_OUTPUT} END,
      'model': CASE WHEN _error IS NULL THEN _model ELSE request.model END->>'$',
      'tool_calls': CASE WHEN _error IS NULL THEN {_TOOL_CALLS} END,
      'usage': CASE WHEN _error IS NULL THEN {{'input_tokens': _in::VARCHAR, 'output_tokens': _out::VARCHAR,
          'cached_input_tokens': _cached::VARCHAR, 'prompt_tokens': NULL, 'completion_tokens': NULL}} END,
      'cost_usd': ({number("_cost")})::VARCHAR, 'latency_ms': coalesce(_millis_n, _seconds * 1000)::VARCHAR,
      'error': _error}}::{CAPTURED_TYPE} AS captured
FROM ({_DERIVED})
"""
"""The converted entries in file order (insertion order is preserved)."""


def stage_entries(parser: duckdb.DuckDBPyConnection, files: list[Path], n_lines: int,
                  max_line_bytes: int) -> pa.Table | None:
    """A block of `n_lines` entries converted by DuckDB (see converted_sql.stage_converted)."""
    return stage_converted(parser, files, n_lines, max_line_bytes, _COLUMNS, _STAGED)
