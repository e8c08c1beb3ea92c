"""OpenTelemetry SDK span dumps with GenAI attributes, as agent frameworks write them.

Reads the spans the Python SDK serializes itself (`ReadableSpan.to_json()`): what
`ConsoleSpanExporter` prints (one pretty-printed span object after another, to stdout or a file),
a JSON array of them, JSON Lines of them, or `{"spans": [...]}` as frameworks dump an
`InMemorySpanExporter`. Ids are `0x`-prefixed hex or integers (both become plain hex), times ISO
8601, the resource under each span. One trace is one request, read with the GenAI conventions
exactly as the OTLP reader does (harness.capture.otel); see harness.capture.dict_spans for the
span object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.capture.dict_spans import dict_span, is_dict_span
from harness.capture.otel import OtelReader
from harness.capture.spans import Span

__all__ = ["READERS", "OtelSdkReader"]


class OtelSdkReader(OtelReader):
    """OpenTelemetry SDK span objects (console exporter, `{"spans": [...]}` dumps)."""

    name = "otel_sdk"

    @staticmethod
    def matches(document: Any) -> bool:
        """A span object as the SDK writes it: a context with a trace id and the SDK's `kind`,
        `status` object or `resource` (Phoenix's spans have `span_kind` instead)."""
        return is_dict_span(document) and "span_kind" not in document and (
            "kind" in document or isinstance(document.get("status"), Mapping) or "resource" in document)

    def spans_of(self, document: Any, source: str, line: int) -> list[Span]:
        return [dict_span(document, source, line)]


READERS: list[type] = [OtelSdkReader]
