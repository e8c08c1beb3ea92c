"""OpenTelemetry GenAI spans, as OTLP JSON, to canonical records.

Reads what the OpenTelemetry Collector's file exporter writes: one `ExportTraceServiceRequest`
JSON object per line (`resourceSpans` -> `scopeSpans` -> `spans`), plain or gzipped; a JSON array
of such requests works too. Attribute values are OTLP `AnyValue`s (64-bit integers arrive as
strings) and are decoded to plain JSON values; ids are hex (base64 ids are turned into hex).

One trace is one request. The spans of a trace may be spread over several lines and files of
the group (the batch processor exports a root span after its children), so every span is
collected before any record is built. The GenAI semantic conventions, current and older names:

| canonical | from |
|---|---|
| request_id | the traceId |
| timestamp, latency_ms | the root span's start and duration (several roots: first start to last end) |
| user_id | `user.id`, `enduser.id` (root span first, then the others in start order) |
| session_id | `gen_ai.conversation.id`, `session.id` |
| input | `{"messages": [...]}` in OpenAI chat form: the first chat span with input messages (`gen_ai.system_instructions` + `gen_ai.input.messages`, else the `gen_ai.{system,user,assistant,tool}.message` events, else `gen_ai.prompt.N.*`) |
| output | the text of the last chat span's output messages (`gen_ai.output.messages`, else the `gen_ai.choice` events, else `gen_ai.completion.N.*`), else of the root span's |
| model | the last chat span's `gen_ai.response.model`, else `gen_ai.request.model` |
| usage | summed over chat spans: `gen_ai.usage.input_tokens` (`prompt_tokens`), `gen_ai.usage.output_tokens` (`completion_tokens`), `gen_ai.usage.cache_read.input_tokens`; left out when no span reports it |
| tool_calls | `execute_tool` spans (or spans with `gen_ai.tool.name`) in start order: `gen_ai.tool.name`, `gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`, else found by `gen_ai.tool.call.id` in the chat messages; with no tool span, the tool calls the chat spans asked for |
| error | status ERROR on the last chat span, else on the root: `{"type": error.type (else the exception event's type), "message": status message (else the exception's)}` |
| metadata | the resource attributes (`service.name`, `deployment.environment`, ...), `gen_ai.provider.name` (or `gen_ai.system`), `gen_ai.agent.name`, `gen_ai.operations` (the operation names in start order) |

A chat span has `gen_ai.operation.name` chat, text_completion or generate_content (or, without an
operation name, a model and no tool). With no chat span, `invoke_agent` spans stand in for them.
A trace with no chat span and no user input cannot become a request: it is quarantined at the
file and line of its first span, and so is a line that is not an OTLP request.

The span model, the OTLP decoding and the trace-to-batch driver live in harness.capture.spans,
shared with the OpenInference reader.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.capture.otlp import is_otlp, otlp_spans, uses_openinference
from harness.capture.span_values import (
    chat_message,
    first_value,
    indexed,
    mapping,
    openai_like_message,
    text_of,
    tool_call_message_entry,
)
from harness.capture.spans import Span, ToolSpan, TraceReader, by_start
from harness.capture.values import count, decoded

__all__ = ["READERS", "OtelReader"]

_CHAT_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


class OtelReader(TraceReader):
    """OpenTelemetry GenAI spans in OTLP JSON (the Collector's file exporter)."""

    name = "otel"
    model_kind = "chat"
    user_keys = ("user.id", "enduser.id")
    session_keys = ("gen_ai.conversation.id", "session.id")

    @staticmethod
    def matches(document: Any) -> bool:
        """An OTLP trace request whose spans do not follow OpenInference."""
        return is_otlp(document) and not uses_openinference(document)

    def spans_of(self, document: Any, source: str, line: int) -> list[Span]:
        return otlp_spans(document, source, line)

    def is_model(self, span: Span) -> bool:
        operation = _operation(span)
        if operation is not None:
            return operation in _CHAT_OPERATIONS
        has_model = "gen_ai.request.model" in span.attributes or "gen_ai.response.model" in span.attributes
        return has_model and not self.is_tool(span)

    def is_tool(self, span: Span) -> bool:
        return _operation(span) == "execute_tool" or "gen_ai.tool.name" in span.attributes

    def stand_ins(self, spans: list[Span]) -> list[Span]:
        """Agent invocations, read as model calls when the trace has no chat span."""
        return [s for s in spans if _operation(s) == "invoke_agent"]

    def input_messages(self, span: Span) -> list[dict[str, Any]]:
        attributes = span.attributes
        if "gen_ai.input.messages" in attributes:
            messages = _part_messages(attributes["gen_ai.input.messages"], "user")
        elif any(name in _MESSAGE_EVENTS for name, _ in span.events):
            messages = [m for name, attrs in span.events if name in _MESSAGE_EVENTS
                        if (m := openai_like_message(_event_body(attrs), _MESSAGE_EVENTS[name]))]
        else:
            messages = _indexed_messages(attributes, "gen_ai.prompt", "user")
        system = _system_instructions(attributes.get("gen_ai.system_instructions"))
        return system + messages

    def output_messages(self, span: Span) -> list[dict[str, Any]]:
        attributes = span.attributes
        if "gen_ai.output.messages" in attributes:
            return _part_messages(attributes["gen_ai.output.messages"], "assistant")
        if any(name == "gen_ai.choice" for name, _ in span.events):
            return [m for name, attrs in span.events if name == "gen_ai.choice"
                    if (m := openai_like_message(_choice_message(_event_body(attrs)), "assistant"))]
        return _indexed_messages(attributes, "gen_ai.completion", "assistant")

    def tool_call(self, span: Span) -> ToolSpan:
        attributes = span.attributes
        name = attributes.get("gen_ai.tool.name") or span.name.removeprefix("execute_tool ").strip() or span.name
        return ToolSpan(attributes.get("gen_ai.tool.call.id"), str(name),
                        attributes.get("gen_ai.tool.call.arguments"), attributes.get("gen_ai.tool.call.result"))

    def usage(self, span: Span) -> dict[str, int | None]:
        attributes = span.attributes
        return {
            "input_tokens": _first_int(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
            "output_tokens": _first_int(attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
            "cached_input_tokens": _first_int(
                attributes, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"
            ),
        }

    def model(self, span: Span) -> str | None:
        model = first_value([span], ("gen_ai.response.model", "gen_ai.request.model"))
        return None if model is None else str(model)

    def metadata(self, spans: list[Span]) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        for span in spans:
            for key, value in span.resource.items():
                metadata.setdefault(key, value)
        for key, value in (
            ("gen_ai.provider.name", first_value(spans, ("gen_ai.provider.name", "gen_ai.system"))),
            ("gen_ai.agent.name", first_value(spans, ("gen_ai.agent.name",))),
        ):
            if value is not None:
                metadata[key] = value
        operations = list(dict.fromkeys(op for s in by_start(spans) if (op := _operation(s))))
        if operations:
            metadata["gen_ai.operations"] = operations
        return metadata


def _operation(span: Span) -> str | None:
    operation = span.attributes.get("gen_ai.operation.name")
    return operation if isinstance(operation, str) and operation else None


def _first_int(attributes: Mapping[str, Any], *keys: str) -> int | None:
    return next((n for key in keys if (n := count(attributes.get(key))) is not None), None)


def _part_messages(value: Any, default_role: str) -> list[dict[str, Any]]:
    """OpenAI chat messages from GenAI `[{"role", "parts": [...]}]` messages (a JSON string or a
    list); `text` parts become the content, `tool_call` parts the tool calls, and each
    `tool_call_response` part a tool message. A message without parts is read as OpenAI form."""
    messages = decoded(value)
    out: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, Mapping):
            continue
        parts = message.get("parts")
        if not isinstance(parts, list):
            if found := openai_like_message(message, default_role):
                out.append(found)
            continue
        texts, calls, responses = [], [], []
        for part in parts:
            part = mapping(part)
            kind = part.get("type")
            if kind == "text" and part.get("content") is not None:
                texts.append(str(part["content"]))
            elif kind == "tool_call":
                calls.append(tool_call_message_entry(part.get("id"), part.get("name"), part.get("arguments")))
            elif kind == "tool_call_response":
                response = part.get("response")
                text = response if isinstance(response, str) else json.dumps(response, ensure_ascii=False)
                responses.append(chat_message("tool", text, tool_call_id=part.get("id")))
        if found := chat_message(message.get("role") or default_role, "".join(texts) or None, calls):
            out.append(found)
        out += [m for m in responses if m]
    return out


def _system_instructions(value: Any) -> list[dict[str, Any]]:
    """`gen_ai.system_instructions` (text or a JSON list of parts) as a system message."""
    text = text_of(decoded(value))
    return [{"role": "system", "content": text}] if text else []


def _event_body(attributes: dict[str, Any]) -> dict[str, Any]:
    """The body of an older per-message span event: `gen_ai.event.content` or `body` (JSON text or
    an object), else the event's own attributes (`content`, `role`, `tool_calls`, `id`...)."""
    for key in ("gen_ai.event.content", "body"):
        if key in attributes:
            body = decoded(attributes[key])
            if isinstance(body, dict):
                return body
            if isinstance(body, str):
                return {"content": body}
    return attributes


def _choice_message(body: dict[str, Any]) -> dict[str, Any]:
    """A `gen_ai.choice` body holds its message under `message` (older: at the top)."""
    message = decoded(body.get("message"))
    return message if isinstance(message, dict) else body


def _indexed_messages(attributes: Mapping[str, Any], prefix: str, default_role: str) -> list[dict[str, Any]]:
    """Messages flattened as `gen_ai.prompt.N.role` / `.content` / `.tool_calls.M.name` (early
    instrumentations, OpenLLMetry)."""
    out = []
    for item in indexed(attributes, prefix):
        calls = [tool_call_message_entry(c.get("id"), c.get("name"), c.get("arguments"))
                 for c in indexed(item, "tool_calls")]
        if found := chat_message(item.get("role") or default_role, text_of(item.get("content")), calls,
                                 item.get("tool_call_id")):
            out.append(found)
    return out


READERS: list[type] = [OtelReader]
