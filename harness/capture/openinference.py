"""OpenInference spans (Arize Phoenix) to canonical records.

Reads two shapes, which may be mixed in one group:

- OTLP JSON, as the OpenTelemetry Collector's file exporter writes it (one
  `ExportTraceServiceRequest` per line), or with proto field names (`resource_spans`, base64 ids)
  as Phoenix's OTLP download writes it, with OpenInference attributes;
- spans as Phoenix exports them: JSON Lines, a JSON array, `{"data": [...]}` (the REST API's
  page), or a JSON object of span lists, of `{"name", "context": {"trace_id", "span_id"}, "parent_id", "span_kind", "start_time",
  "end_time", "status_code", "status_message", "attributes", "events"}`, with ISO 8601 times and
  attributes as flat dotted keys or nested objects (flattened here; `metadata` stays whole).

One trace is one request, assembled as the OTel reader does (`harness.capture.otel.TraceReader`),
with OpenInference names:

| canonical | from |
|---|---|
| request_id | the trace id |
| timestamp, latency_ms | the root span's start and duration (several roots: first start to last end) |
| user_id / session_id | `user.id` / `session.id` (root span first) |
| input | `{"messages": [...]}`: the first LLM span's `llm.input_messages.N.message.*` (`role`, `content` or `contents.M.message_content.text`, `tool_calls`, `tool_call_id`); without them, the root span's `input.value` (a JSON value is read for its `input` / `query` / `question`... text) |
| output | the text of the last LLM span's `llm.output_messages`, else the root span's `output.value` (not when the root is an LLM span that only asked for tools: its output.value is the raw completion) |
| model | the last LLM span's `llm.model_name` |
| usage | summed over LLM spans: `llm.token_count.prompt`, `.completion`, `.prompt_details.cache_read` |
| cost_usd | summed over LLM spans: `llm.cost.total`, when every LLM span states it (a stated 0 is kept) |
| tool_calls | TOOL spans in start order: `tool.name` (else the span name), `input.value` as arguments, `output.value` as result (JSON decoded); with no TOOL span, the tool calls the LLM spans asked for |
| error | status ERROR on the last LLM span, else on the root: `error.type` or the exception event's type, the status message or the exception's |
| metadata | the `metadata` attribute's keys (root span first), the resource attributes, `tags` (`tag.tags`), `llm.provider` (or `llm.system`), `openinference.span.kinds` |

A trace with no LLM span and no input on its root is quarantined at the file and line of its
first span, and so is a line that is neither an OTLP request nor a span.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.capture.dict_spans import OPENINFERENCE_KIND, dict_span, is_dict_span
from harness.capture.otlp import is_otlp, otlp_spans, uses_openinference
from harness.capture.span_values import chat_message, first_value, indexed, text_of, tool_call_message_entry
from harness.capture.spans import Span, ToolSpan, TraceReader, by_start
from harness.capture.values import count, decoded, number

__all__ = ["READERS", "OpenInferenceReader"]

_KIND = OPENINFERENCE_KIND
_TEXT_KEYS = ("input", "query", "question", "output", "answer", "response", "content", "text", "message")
"""Where a JSON `input.value` / `output.value` usually keeps its text."""


class OpenInferenceReader(TraceReader):
    """OpenInference spans, as OTLP JSON or as Phoenix span records."""

    name = "openinference"
    model_kind = "LLM"
    user_keys = ("user.id",)
    session_keys = ("session.id",)

    @staticmethod
    def matches(document: Any) -> bool:
        """An OTLP request with OpenInference attributes, or a Phoenix span."""
        if is_otlp(document):
            return uses_openinference(document)
        return is_dict_span(document) and (
            "span_kind" in document or _has_openinference_keys(document.get("attributes")))

    def spans_of(self, document: Any, source: str, line: int) -> list[Span]:
        if is_otlp(document):
            return otlp_spans(document, source, line)
        return [dict_span(document, source, line)]

    def is_model(self, span: Span) -> bool:
        return _kind(span) == "LLM"

    def is_tool(self, span: Span) -> bool:
        return _kind(span) == "TOOL"

    def input_messages(self, span: Span) -> list[dict[str, Any]]:
        return _messages(span.attributes, "llm.input_messages", "user")

    def output_messages(self, span: Span) -> list[dict[str, Any]]:
        return _messages(span.attributes, "llm.output_messages", "assistant")

    def root_input(self, root: Span) -> Any:
        return super().root_input(root) or _io_text(root, "input")

    def root_output(self, root: Span) -> str | None:
        """The root's output messages, else its `output.value`; not for an LLM span whose messages
        hold only tool calls (a tool-call turn has no answer; its output.value is the raw completion)."""
        if self.is_model(root) and self.output_messages(root):
            return super().root_output(root)
        return super().root_output(root) or _io_text(root, "output")

    def tool_call(self, span: Span) -> ToolSpan:
        attributes = span.attributes
        arguments = attributes.get("input.value", attributes.get("tool_call.function.arguments"))
        return ToolSpan(attributes.get("tool_call.id"), str(attributes.get("tool.name") or span.name),
                        arguments, attributes.get("output.value"))

    def usage(self, span: Span) -> dict[str, int | None]:
        attributes = span.attributes
        return {
            "input_tokens": count(attributes.get("llm.token_count.prompt")),
            "output_tokens": count(attributes.get("llm.token_count.completion")),
            "cached_input_tokens": count(attributes.get("llm.token_count.prompt_details.cache_read")),
        }

    def cost(self, span: Span) -> float | None:
        return number(span.attributes.get("llm.cost.total"))

    def model(self, span: Span) -> str | None:
        model = span.attributes.get("llm.model_name")
        return str(model) if model else None

    def metadata(self, spans: list[Span]) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        for span in spans:
            for key, value in _metadata_attribute(span.attributes.get("metadata")).items():
                metadata.setdefault(key, value)
        for span in spans:
            for key, value in span.resource.items():
                metadata.setdefault(key, value)
        tags = first_value(spans, ("tag.tags",))
        if isinstance(tags, list):
            metadata.setdefault("tags", tags)
        provider = first_value(spans, ("llm.provider", "llm.system"))
        if provider is not None:
            metadata.setdefault("llm.provider", provider)
        kinds = list(dict.fromkeys(kind for s in by_start(spans) if (kind := _kind(s))))
        if kinds:
            metadata["openinference.span.kinds"] = kinds
        return metadata


def _kind(span: Span) -> str:
    kind = span.attributes.get(_KIND)
    return kind.upper() if isinstance(kind, str) else ""


def _has_openinference_keys(attributes: Any) -> bool:
    """Flat (`openinference.span.kind`, `llm.*`) or nested (`openinference`, `llm`) attribute keys."""
    return isinstance(attributes, Mapping) and any(
        key in ("openinference", "llm") or key.startswith(("openinference.", "llm.")) for key in attributes
    )


def _messages(attributes: Mapping[str, Any], prefix: str, default_role: str) -> list[dict[str, Any]]:
    """OpenAI chat messages from `prefix.N.message.*` attributes."""
    out = []
    for item in indexed(attributes, prefix):
        content = item.get("message.content")
        if content is None:
            content = [{"type": part.get("message_content.type", "text"), "text": part.get("message_content.text")}
                       for part in indexed(item, "message.contents")]
        calls = [tool_call_message_entry(c.get("tool_call.id"), c.get("tool_call.function.name"),
                                         c.get("tool_call.function.arguments"))
                 for c in indexed(item, "message.tool_calls")]
        if found := chat_message(item.get("message.role") or default_role, text_of(content), calls,
                                 item.get("message.tool_call_id")):
            out.append(found)
    return out


def _io_text(span: Span, prefix: str) -> str | None:
    """`input.value` / `output.value` as text: a JSON value gives its string or its usual text key."""
    value = span.attributes.get(f"{prefix}.value")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    parsed = decoded(value) if span.attributes.get(f"{prefix}.mime_type") == "application/json" else value
    if isinstance(parsed, Mapping):
        return next((parsed[key] for key in _TEXT_KEYS if isinstance(parsed.get(key), str) and parsed[key]), value)
    return value


def _metadata_attribute(value: Any) -> dict[str, Any]:
    """The `metadata` attribute: a JSON object (as text or as an object)."""
    parsed = decoded(value)
    return dict(parsed) if isinstance(parsed, Mapping) else {}


READERS: list[type] = [OpenInferenceReader]
