"""OpenAI chat-completions request/response logs, as gateways and proxies write them.

Reads JSON Lines (or a JSON array) of entries
`{"request": {model, messages, tools, user, metadata}, "response": {a chat.completion}}`, with
optional top-level `id` / `request_id`, `timestamp` / `created_at`, `latency_ms` / `duration_ms` /
`duration` (seconds), `user_id`, `session_id`, `metadata`, `cost_usd` / `cost`, and an `error`
(with `status_code`) in place of the response. Each entry becomes one canonical record:

- request_id: top-level `request_id`, else `id`, else `response.id` (a number becomes its string)
- timestamp: top-level `timestamp` / `created_at`, else `response.created` (epoch seconds, as ISO 8601)
- user_id / session_id: top-level, the user falling back to `request.user`
- input: `{"messages": request.messages}`; metadata: `request.metadata` updated by the top-level one
- captured: output = the first choice's text (or its refusal), model = `response.model` else
  `request.model`, tool calls from `message.tool_calls` (arguments JSON-decoded when valid),
  usage from `response.usage`, cost and latency from the top level, error from `error`.

The module also holds the small helpers the other converting readers share (ids, numbers, times,
batching), since the OpenAI chat form is the canonical input form.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.canonical import Malformed
from harness.capture.base import RawBatch
from harness.capture.documents import iter_documents, line_documents
from harness.capture.values import (
    Item,
    batches,
    count,
    decoded,
    first,
    identifier,
    malformed,
    mapping,
    merged_variants,
    number,
    timestamp,
    variant_value,
)

__all__ = [
    "OpenAIChatReader",
    "api_error",
    "completion_captured",
    "line_items",
    "other_choices",
    "response_captured",
]


class OpenAIChatReader:
    """Reads gateway logs of chat-completion calls, one request per entry."""

    name = "openai_chat"
    variant_from: str | None = None
    """Where each entry's captured variant is: a key of the entry's or the request's metadata, or
    `model` (see values.variant_value)."""

    @staticmethod
    def matches(document: Any) -> bool:
        """An entry with a request and a response (or an error), the request having messages or
        the response choices."""
        if not isinstance(document, dict) or not isinstance(document.get("request"), dict):
            return False
        if "response" not in document and "error" not in document:
            return False
        response = document.get("response")
        return "messages" in document["request"] or (isinstance(response, dict) and "choices" in response)

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]:
        """Each file in turn, entry by entry."""
        items = (item for path in paths for item in _entries(path, hashers[path], self.variant_from))
        return batches(merged_variants(list(items)) if self.variant_from else items, seq_start)


def _entries(path: Path, hasher: Any, variant_from: str | None) -> Iterator[Item]:
    """Canonical records, or the reason an entry cannot be one, in file order."""
    source = str(path)
    for line, document, error in iter_documents(path, hasher):
        yield _item(source, line, document, error, variant_from)


def line_items(source: str, number: int, text: bytes | bytearray) -> list[Item]:
    """What read_group (without `variant_from`) makes of one JSON line (harness.ingest_converted
    converts JSON Lines in SQL and hands it the lines the SQL leaves)."""
    return [_item(source, number, document, error, None) for document, error in line_documents(text)]


def _item(source: str, line: int, document: Any, error: str | None, variant_from: str | None) -> Item:
    """The canonical record of one document, or the reason it cannot be one."""
    if error is not None:
        return Malformed(source, line, error)
    if not OpenAIChatReader.matches(document):
        return malformed(source, line, "not an OpenAI chat log entry (a request with messages, and a response"
                         " or an error)", document)
    try:
        return source, line, _record(document, variant_from)
    except ValueError as exc:
        return malformed(source, line, str(exc), document)


def _record(entry: dict[str, Any], variant_from: str | None) -> dict[str, Any]:
    """The canonical record of one log entry."""
    request = entry["request"]
    response = given if isinstance(given := entry.get("response"), dict) else {}
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("request.messages is missing or not a list of messages")
    metadata = {**mapping(request.get("metadata")), **mapping(entry.get("metadata")), **other_choices(response)}
    captured = _captured(entry, request, response)
    if variant_from is not None:
        captured["variant"] = variant_value({**metadata, "model": request.get("model")}, variant_from)
    return {
        "request_id": identifier(first(entry.get("request_id"), entry.get("id"), response.get("id"))),
        "timestamp": timestamp(first(entry.get("timestamp"), entry.get("created_at"), response.get("created"))),
        "user_id": identifier(first(entry.get("user_id"), request.get("user"))),
        "session_id": identifier(entry.get("session_id")),
        "input": {"messages": messages},
        "metadata": metadata or None,
        "captured": captured,
    }


def _captured(entry: dict[str, Any], request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """What production returned: the completion, or the error that came instead."""
    status = count(first(entry.get("status_code"), response.get("status_code")))
    stated = first(entry.get("error"), response.get("error"))
    if stated is None and status is not None and status >= 400:
        stated = f"HTTP status {status}"
    error = api_error(stated, status)
    if error is not None:
        captured: dict[str, Any] = {"variant": "prod", "output": None, "model": request.get("model"), "error": error}
    elif "choices" in response:
        captured = completion_captured(response, request.get("model"))
    else:
        raise ValueError("the response has no choices and there is no error")
    captured["cost_usd"] = number(first(entry.get("cost_usd"), entry.get("cost")))
    captured["latency_ms"] = _latency_ms(entry)
    return captured


def _latency_ms(entry: dict[str, Any]) -> float | None:
    """Wall time in milliseconds from `latency_ms`, `duration_ms` or `duration` (seconds)."""
    millis = number(first(entry.get("latency_ms"), entry.get("duration_ms")))
    if millis is not None:
        return millis
    seconds = number(entry.get("duration"))
    return None if seconds is None else round(seconds * 1000, 3)


def completion_captured(completion: dict[str, Any], request_model: str | None = None) -> dict[str, Any]:
    """The captured output, model, tool calls and usage of a `chat.completion` object."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = mapping(choice.get("message"))
    calls = message.get("tool_calls")
    tool_calls = [_tool_call(call) for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []
    if isinstance(message.get("function_call"), dict):  # the legacy single function call
        tool_calls.append(_tool_call({"function": message["function_call"]}))
    captured: dict[str, Any] = {
        "variant": "prod",
        "output": _message_text(message),
        "model": first(completion.get("model"), request_model),
        "tool_calls": tool_calls,
        "error": None,
    }
    usage = _usage(completion.get("usage"))
    if usage:
        captured["usage"] = usage
    return captured


def other_choices(completion: dict[str, Any]) -> dict[str, Any]:
    """With `n` > 1 the first choice is the captured answer and the others are kept in the
    request's metadata (`n_choices`, `other_choices`: their output and tool calls), not dropped:
    a captured variant has one answer per request, and the completion's usage covers all choices,
    so splitting it into samples would invent per-choice numbers."""
    choices = completion.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        return {}
    others = []
    for choice in choices[1:]:
        message = mapping(mapping(choice).get("message"))
        calls = message.get("tool_calls")
        others.append({"output": _message_text(message),
                       "tool_calls": [_tool_call(c) for c in calls if isinstance(c, dict)] if isinstance(calls, list)
                       else []})
    return {"n_choices": len(choices), "other_choices": others}


def response_captured(response: dict[str, Any], request_model: str | None = None) -> dict[str, Any]:
    """The captured output, model, tool calls and usage of a Responses API `response` object:
    the text of its `message` output items, its `function_call` items as tool calls."""
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for item in response.get("output") or []:
        item = mapping(item)
        if item.get("type") == "message":
            texts += [str(part["text"]) for part in item.get("content") or []
                      if isinstance(part, dict) and part.get("type") == "output_text" and part.get("text") is not None]
        elif item.get("type") == "function_call":
            tool_calls.append({"name": item.get("name"), "arguments": decoded(item.get("arguments"))})
    failed = response.get("status") == "failed" or response.get("error")
    captured: dict[str, Any] = {
        "variant": "prod",
        "output": "".join(texts) or None,
        "model": first(response.get("model"), request_model),
        "tool_calls": tool_calls,
        "error": api_error(response.get("error") or "the response failed") if failed else None,
    }
    usage = _usage(response.get("usage"))
    if usage:
        captured["usage"] = usage
    return captured


def _message_text(message: dict[str, Any]) -> str | None:
    """The text of an assistant message: its content (joined text parts), else its refusal."""
    content = message.get("content")
    if isinstance(content, list):
        parts = [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        content = "".join(parts) if parts else None
    if isinstance(content, str) and content:
        return content
    refusal = message.get("refusal")
    return refusal if isinstance(refusal, str) and refusal else content


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """A canonical tool call from an OpenAI one; the result is not in the response."""
    function = mapping(call.get("function"))
    return {"name": function.get("name"), "arguments": decoded(function.get("arguments"))}


def _usage(usage: Any) -> dict[str, int]:
    """Token counts that the usage states; missing counts stay missing."""
    if not isinstance(usage, dict):
        return {}
    details = mapping(first(usage.get("prompt_tokens_details"), usage.get("input_tokens_details")))
    counts = {
        "input_tokens": count(first(usage.get("prompt_tokens"), usage.get("input_tokens"))),
        "output_tokens": count(first(usage.get("completion_tokens"), usage.get("output_tokens"))),
        "cached_input_tokens": count(details.get("cached_tokens")),
    }
    return {key: value for key, value in counts.items() if value is not None}


def api_error(error: Any, status_code: Any = None) -> dict[str, Any] | None:
    """A canonical error from an API error (an object with message/type/code, or a string);
    the type is the error's type, else its code, else `http_<status>`, else `api_error`."""
    if error is None or error is False or error == "":
        return None
    status = count(status_code)
    fallback = f"http_{status}" if status is not None else "api_error"
    if not isinstance(error, dict):
        return {"type": fallback, "message": str(error)}
    kind = first(error.get("type"), error.get("code"))
    message = error.get("message")
    return {"type": str(kind) if kind is not None else fallback,
            "message": message if isinstance(message, str) else json.dumps(error, ensure_ascii=False)}


READERS: list[type] = [OpenAIChatReader]
