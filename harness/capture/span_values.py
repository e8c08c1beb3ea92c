"""Span attribute values as chat messages, text and timestamps: the helpers every span reader shares."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.capture.spans import Span

__all__ = ["chat_message", "first_value", "indexed", "iso_utc", "mapping", "openai_like_message", "output_text", "status_name", "text_of", "tool_call_message_entry"]


def iso_utc(ns: int) -> str:
    """ISO 8601 UTC (microseconds) of nanoseconds since the epoch."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 1000:06d}Z"


def status_name(code: Any) -> str:
    """OK, ERROR or UNSET from an OTLP status code (number or enum name) or a Phoenix status."""
    text = str(code).upper().removeprefix("STATUS_CODE_") if code is not None else ""
    return {"1": "OK", "OK": "OK", "2": "ERROR", "ERROR": "ERROR"}.get(text, "UNSET")


def text_of(content: Any) -> str | None:
    """The text of a message content: a string, or the text parts of a list; None when empty."""
    if isinstance(content, str):
        return content or None
    if isinstance(content, list):
        texts = [
            text
            for part in content
            if isinstance(part, Mapping) and part.get("type", "text") == "text"
            and isinstance(text := part.get("text", part.get("content")), str)
        ]
        return "".join(texts) or None
    return None


def first_value(spans: Iterable[Span], keys: Iterable[str]) -> Any:
    """The first non-empty value of any of `keys` over the spans, in order."""
    keys = tuple(keys)
    for span in spans:
        for key in keys:
            value = span.attributes.get(key)
            if value is not None and value != "":
                return value
    return None


def indexed(attributes: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Objects flattened as `prefix.N.key` attributes, in index order, keys relative to the item."""
    start = prefix + "."
    keys = [key for key in attributes if key.startswith(start)]  # most spans have none: one quick pass
    if not keys:
        return []
    items: dict[int, dict[str, Any]] = {}
    for key in keys:
        index, _, rest = key[len(start):].partition(".")
        if index.isdigit() and rest:
            items.setdefault(int(index), {})[rest] = attributes[key]
    return [items[i] for i in sorted(items)]


# ---------------------------------------------------------------------------------------------
# OpenAI chat messages


def tool_call_message_entry(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """One entry of an assistant message's `tool_calls`, in OpenAI form (arguments as JSON text)."""
    entry: dict[str, Any] = {"type": "function", "function": {
        "name": str(name or ""),
        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False),
    }}  # fmt: skip
    if call_id:
        entry["id"] = str(call_id)
    return entry


def chat_message(role: Any, content: str | None, tool_calls: list[dict[str, Any]] | None = None,
                 tool_call_id: Any = None) -> dict[str, Any] | None:
    """An OpenAI chat message, or None when it holds nothing."""
    if content is None and not tool_calls and not tool_call_id:
        return None
    message: dict[str, Any] = {"role": str(role or "user"), "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if tool_call_id:
        message["tool_call_id"] = str(tool_call_id)
    return message


def openai_like_message(body: Mapping[str, Any], default_role: str) -> dict[str, Any] | None:
    """A message already close to OpenAI form (`role`, `content`, `tool_calls`), normalized."""
    role = body.get("role") or default_role
    calls = []
    for call in body.get("tool_calls") or []:
        if isinstance(call, Mapping):
            given = call.get("function")
            function: Mapping[str, Any] = given if isinstance(given, Mapping) else call
            calls.append(tool_call_message_entry(call.get("id"), function.get("name"), function.get("arguments")))
    call_id = body.get("tool_call_id") or (body.get("id") if role == "tool" else None)
    return chat_message(role, text_of(body.get("content")), calls, call_id)


def output_text(messages: list[dict[str, Any]]) -> str | None:
    """The answer in output messages: the text of the first one that has text."""
    return next((m["content"] for m in messages if isinstance(m.get("content"), str) and m["content"]), None)


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# ---------------------------------------------------------------------------------------------
# Traces to records
