"""Spans written as plain objects: Phoenix's span export and the OpenTelemetry SDK's `to_json()`.

Both have `{"name", "context": {"trace_id", "span_id"}, "parent_id", "start_time", "end_time",
"attributes", "events"}` with ISO 8601 times. Phoenix adds `span_kind`, `status_code` and
`status_message`; the SDK (`ReadableSpan.to_json()`, which the console exporter prints and
frameworks dump as `{"spans": [...]}`) adds `kind`, `status: {"status_code", "description"}` and
`resource: {"attributes"}`, with ids as `0x`-prefixed hex. Ids given as integers (the SDK's own
`SpanContext` form) are written as hex. Attributes may be flat dotted keys or nested objects
(flattened here; `metadata` stays whole).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.capture.otlp import hex_id
from harness.capture.span_values import mapping, status_name
from harness.capture.spans import Span

__all__ = ["OPENINFERENCE_KIND", "dict_span", "is_dict_span"]

OPENINFERENCE_KIND = "openinference.span.kind"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"(\.\d{6})\d+")
_PLAIN = frozenset({str, int, float, bool, type(None)})
"""Types of JSON values that are leaves."""


def is_dict_span(document: Any) -> bool:
    """A span object: a `context` holding a `trace_id`."""
    return isinstance(document, Mapping) and isinstance(document.get("context"), Mapping) and (
        document["context"].get("trace_id") not in (None, ""))


def dict_span(document: Any, source: str, line: int) -> Span:
    """One span object (Phoenix or the SDK); ValueError when it is not one."""
    if not is_dict_span(document):
        raise ValueError("neither an OTLP request nor a span object (no context.trace_id)")
    context = document["context"]
    attributes = _flattened(document.get("attributes") or {})
    kind = document.get("span_kind")
    if OPENINFERENCE_KIND not in attributes and isinstance(kind, str) and not kind.upper().startswith("SPAN_KIND"):
        attributes[OPENINFERENCE_KIND] = kind
    status = mapping(document.get("status"))
    return Span(
        trace_id=_id(context["trace_id"], 32),
        span_id=_id(context.get("span_id"), 16),
        parent_id=_id(document.get("parent_id"), 16),
        name=str(document.get("name") or ""),
        start_ns=_nanos(document.get("start_time"), "start_time"),
        end_ns=_nanos(document.get("end_time"), "end_time"),
        attributes=attributes,
        events=_events(document.get("events")),
        status=status_name(document.get("status_code", status.get("status_code"))),
        status_message=str(document.get("status_message") or status.get("description") or ""),
        resource=_flattened(mapping(document.get("resource")).get("attributes") or {}),
        source=source,
        line=line,
    )


def _id(value: Any, width: int) -> str:
    """An id as text: integers and `0x` hex as lowercase hex, anything else as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, int) or (isinstance(value, str) and value[:2] in ("0x", "0X")):
        return hex_id(value, width) or str(value)
    return str(value)


def _events(events: Any) -> list[tuple[str, dict[str, Any]]]:
    """Span events `[{"name", "timestamp", "attributes"}]` as (name, flat attributes)."""
    if not isinstance(events, list):
        return []
    return [(str(e.get("name") or ""), _flattened(e.get("attributes") or {}))
            for e in events if isinstance(e, Mapping)]


def _flattened(value: Any) -> dict[str, Any]:
    """Nested attributes as dotted keys (lists of objects by index); `metadata` stays one object."""
    out: dict[str, Any] = {}
    _flatten(value, "", out)
    return out


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """`value`'s leaves into `out` under `prefix`; plain values (most attributes) are written
    without a call of their own."""
    if (type(value) is dict or isinstance(value, Mapping)) and prefix != "metadata":
        for key, inner in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if type(inner) in _PLAIN:
                if name:
                    out[name] = inner
            else:
                _flatten(inner, name, out)
    elif isinstance(value, list) and value and all(type(v) is dict or isinstance(v, Mapping) for v in value):
        for index, inner in enumerate(value):
            _flatten(inner, f"{prefix}.{index}", out)
    elif prefix:
        out[prefix] = value


def _nanos(value: Any, field: str) -> int | None:
    """Nanoseconds since the epoch of an ISO 8601 time (no offset: UTC); ValueError when unreadable."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", str(value).strip()))
    except ValueError:
        raise ValueError(f"{field} {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000
