"""OTLP JSON to spans: `ExportTraceServiceRequest` documents, attribute `AnyValue`s, ids.

Reads the proto3 JSON mapping the Collector's file exporter writes (`resourceSpans`,
`startTimeUnixNano`, hex ids) and the proto field names protobuf writes with
`preserving_proto_field_name` (`resource_spans`, `start_time_unix_nano`, base64 ids), as Phoenix's
OTLP download does. 64-bit integers may arrive as strings; they are read exactly.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

from harness.capture.span_values import mapping, status_name
from harness.capture.spans import Span
from harness.capture.values import count, number

__all__ = ["any_value", "attribute_dict", "camel_case", "hex_id", "is_otlp", "otlp_spans", "uses_openinference"]


def any_value(value: Any) -> Any:
    """The plain JSON value of an OTLP `AnyValue` (intValue strings become ints)."""
    if not isinstance(value, Mapping):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        whole = count(value["intValue"])
        return value["intValue"] if whole is None else whole
    if "doubleValue" in value:
        real = number(value["doubleValue"])
        return value["doubleValue"] if real is None else float(real)
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        return [any_value(v) for v in _list(mapping(value["arrayValue"]).get("values"))]
    if "kvlistValue" in value:
        return attribute_dict(mapping(value["kvlistValue"]).get("values"))
    return value.get("bytesValue")


def attribute_dict(items: Any) -> dict[str, Any]:
    """OTLP `[{"key", "value"}]` attributes as a dict of plain values. A parsed document's objects
    are dicts, and most values strings: those are read inline (the ingest's hottest loop)."""
    out: dict[str, Any] = {}
    for item in _list(items):
        if type(item) is dict or isinstance(item, Mapping):
            key = item.get("key")
            if isinstance(key, str):
                value = item.get("value")
                out[key] = value["stringValue"] if type(value) is dict and "stringValue" in value else any_value(value)
    return out


def is_otlp(document: Any) -> bool:
    """An `ExportTraceServiceRequest` in OTLP JSON, with proto3 JSON names (`resourceSpans`) or the
    proto field names protobuf writes with `preserving_proto_field_name` (`resource_spans`)."""
    return isinstance(document, Mapping) and (
        isinstance(document.get("resourceSpans"), list) or isinstance(document.get("resource_spans"), list))


def camel_case(value: Any) -> Any:
    """OTLP JSON written with proto field names (snake_case) in its JSON names (camelCase); attribute
    names are values of `key`, never object keys, so they are left as they are."""
    if isinstance(value, Mapping):
        return {_camel(key): camel_case(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [camel_case(inner) for inner in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def otlp_spans(document: Any, source: str, line: int) -> list[Span]:
    """Every span of one `ExportTraceServiceRequest`; ValueError when it is not one."""
    if not is_otlp(document):
        raise ValueError("not an OTLP ExportTraceServiceRequest (no resourceSpans list)")
    if "resource_spans" in document:
        document = camel_case(document)
    spans = []
    for resource_spans in document["resourceSpans"]:
        resource_spans = mapping(resource_spans)
        resource = attribute_dict(mapping(resource_spans.get("resource")).get("attributes"))
        for scope_spans in _scopes(resource_spans):
            for raw in _list(mapping(scope_spans).get("spans")):
                spans.append(_otlp_span(raw, resource, source, line))
    return spans


def uses_openinference(document: Any) -> bool:
    """True when an OTLP request's spans follow OpenInference rather than the GenAI conventions:
    an `openinference.*` key, or `llm.*` keys without any `gen_ai.*` one."""
    keys = set(_otlp_keys(document))
    if any(key.startswith("openinference.") for key in keys):
        return True
    return any(key.startswith("llm.") for key in keys) and not any(key.startswith("gen_ai.") for key in keys)


def _otlp_keys(document: Any) -> Iterator[str]:
    """Every resource and span attribute key of an OTLP request, without decoding values."""
    if not is_otlp(document):
        return
    for resource_spans in document.get("resourceSpans") or document["resource_spans"]:
        resource_spans = mapping(resource_spans)
        yield from _keys(mapping(resource_spans.get("resource")).get("attributes"))
        for scope_spans in _scopes(resource_spans):
            for span in _list(mapping(scope_spans).get("spans")):
                yield from _keys(mapping(span).get("attributes"))


def _keys(items: Any) -> Iterator[str]:
    if isinstance(items, list):
        yield from (item["key"] for item in items if isinstance(item, Mapping) and isinstance(item.get("key"), str))


def _otlp_span(raw: Any, resource: dict[str, Any], source: str, line: int) -> Span:
    """One OTLP span; ValueError when it has no traceId."""
    if not isinstance(raw, Mapping):
        raise ValueError("a span in resourceSpans is not an object")
    trace_id = hex_id(raw.get("traceId"))
    if not trace_id:
        raise ValueError(f"span {raw.get('name')!r} has no traceId")
    status = mapping(raw.get("status"))
    return Span(
        trace_id=trace_id,
        span_id=hex_id(raw.get("spanId")) or "",
        parent_id=hex_id(raw.get("parentSpanId")) or "",
        name=str(raw.get("name") or ""),
        start_ns=_nanos(raw.get("startTimeUnixNano")),
        end_ns=_nanos(raw.get("endTimeUnixNano")),
        attributes=attribute_dict(raw.get("attributes")),
        events=[(str(mapping(e).get("name") or ""), attribute_dict(mapping(e).get("attributes")))
                for e in _list(raw.get("events"))],
        status=status_name(status.get("code")),
        status_message=str(status.get("message") or ""),
        resource=resource,
        source=source,
        line=line,
    )


def hex_id(value: Any, width: int = 0) -> str | None:
    """A trace or span id as lowercase hex (the OTLP JSON form): a base64 id is converted, an
    integer (the SDK's own form) is written in `width` hex digits, a `0x` prefix dropped."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return f"{value:0{width}x}"
    if not isinstance(value, str) or not value:
        return None
    if value[:2] in ("0x", "0X") and len(value) > 2:
        value = value[2:]
    try:
        int(value, 16)
        return value.lower()
    except ValueError:
        pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    return raw.hex() if len(raw) in (8, 16) else value


def _nanos(value: Any) -> int | None:
    """Nanoseconds since the epoch; 0 and missing mean unknown."""
    nanos = count(value)
    return nanos if nanos else None


def _scopes(resource_spans: Mapping[str, Any]) -> list[Any]:
    """The scope spans of one resource (`instrumentationLibrarySpans` before OTLP 0.15)."""
    return _list(resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans")
                 or resource_spans.get("scope_spans") or resource_spans.get("instrumentation_library_spans"))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
