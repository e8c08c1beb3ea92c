"""One LangSmith trace as a canonical record: its root run carries the request, its other runs
the tools, usage and model (the rules are in harness.capture.langsmith's docstring)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from harness.capture.values import (
    count,
    decoded,
    first,
    identifier,
    mapping,
    number,
    parse_time,
    summed,
    timestamp,
    variant_value,
)

__all__ = ["chat_messages", "start_key", "trace_record"]

_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant", "system": "system",
          "tool": "tool", "function": "function", "developer": "developer"}
_LC_ROLES = {"HumanMessage": "human", "AIMessage": "ai", "SystemMessage": "system", "ToolMessage": "tool",
             "FunctionMessage": "function"}
_EXCEPTION = re.compile(r"([A-Za-z_][\w.]*)\((.*)\)|([A-Za-z_][\w.]*(?:Error|Exception)): (.*)")


def start_key(run: dict[str, Any]) -> tuple[bool, datetime | None, str]:
    """Runs in start order (dotted_order breaks ties); runs without a start time last."""
    moment = parse_time(run.get("start_time"))
    return moment is None, moment, str(run.get("dotted_order") or "")


def trace_record(root: dict[str, Any], children: list[dict[str, Any]], variant_from: str | None) -> dict[str, Any]:
    """The canonical record of a trace: its root run and the other runs in start order."""
    extra = mapping(root.get("extra"))
    metadata = dict(mapping(extra.get("metadata")))
    captured = _captured(root, children)
    if variant_from is not None:
        found = {**metadata, **{key: root.get(key) for key in ("tags", "session_name", "name")}}
        captured["variant"] = variant_value(found, variant_from)
    session = first(metadata.get("session_id"), metadata.get("thread_id"), metadata.get("conversation_id"))
    user = metadata.get("user_id")
    if root.get("tags"):
        metadata["tags"] = root["tags"]
    return {
        "request_id": identifier(root["id"]),
        "timestamp": timestamp(root.get("start_time")),
        "user_id": identifier(user),
        "session_id": identifier(session),
        "input": _input(root.get("inputs")),
        "metadata": metadata or None,
        "captured": captured,
    }


def _captured(root: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
    """What production answered: the root's outputs, error, cost and time; the children's tools and usage."""
    llm_runs = [run for run in (root, *children) if run.get("run_type") == "llm"]
    captured: dict[str, Any] = {
        "variant": "prod",
        "output": _output(root.get("outputs")),
        "model": next((m for m in map(_model, reversed(llm_runs)) if m), None),
        "tool_calls": [_tool_call(run) for run in children if run.get("run_type") == "tool"] if children else None,
        "cost_usd": first(number(root.get("total_cost")), summed(number(r.get("total_cost")) for r in llm_runs)),
        "latency_ms": _latency_ms(root),
        "error": _error(root.get("error")),
    }
    usage = _usage(llm_runs)
    if usage:
        captured["usage"] = usage
    return captured


def _message(value: Any) -> dict[str, Any] | None:
    """An OpenAI-style message from a LangChain-serialized, `{"type": ...}` or role/content one."""
    if not isinstance(value, dict):
        return None
    if value.get("lc") == 1 and isinstance(value.get("id"), list) and value["id"]:
        kwargs = mapping(value.get("kwargs"))
        kind = str(value["id"][-1]).removesuffix("Chunk")
        role = kwargs.get("role") if kind == "ChatMessage" else _LC_ROLES.get(kind)
        return {"role": _ROLES.get(str(role), role), "content": kwargs.get("content")} if role else None
    if "role" in value:
        return {**value, "role": _ROLES.get(str(value["role"]), value["role"])}
    if value.get("type") in _ROLES:
        data = value["data"] if isinstance(value.get("data"), dict) else value
        return {"role": _ROLES[value["type"]], "content": data.get("content")}
    return None


def chat_messages(value: Any) -> list[dict[str, Any]] | None:
    """A conversation in OpenAI chat form, or None when the value is not one (a batch of one is unwrapped)."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list) or not value:
        return None
    messages = [message for message in map(_message, value) if message is not None]
    return messages if len(messages) == len(value) else None


def _content_text(content: Any) -> str | None:
    """Message content as text: a string, or its text parts joined."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content
                       if isinstance(p, str) or (isinstance(p, dict) and p.get("type") == "text"))
    return json.dumps(content, ensure_ascii=False)


def _input(inputs: Any) -> str | dict[str, Any] | None:
    """Chat messages, the input/question/query string, or the inputs as JSON text."""
    if inputs is None or isinstance(inputs, str):
        return inputs
    if isinstance(inputs, dict):
        messages = chat_messages(inputs.get("messages"))
        if messages:
            return {"messages": messages}
        text = next((inputs[k] for k in ("input", "question", "query") if isinstance(inputs.get(k), str)), None)
        if text is not None:
            return text
    return json.dumps(inputs, ensure_ascii=False)


def _output(outputs: Any) -> str | None:
    """The answer text: `output` / `answer`, the last message, the first generation, else JSON text."""
    if outputs is None or isinstance(outputs, str):
        return outputs
    if isinstance(outputs, dict):
        for key in ("output", "answer"):
            value = outputs.get(key)
            if isinstance(value, str):
                return value
            message = _message(value)
            if message is not None:
                return _content_text(message.get("content"))
        messages = chat_messages(outputs.get("messages"))
        if messages:
            return _content_text(messages[-1].get("content"))
        generation = _first_generation(outputs.get("generations"))
        if generation is not None:
            return generation
        choices = outputs.get("choices")  # a chat.completion, as the OpenAI wrapper records it
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = mapping(choices[0].get("message"))
            return _content_text(message.get("content")) or message.get("refusal") or None
    return json.dumps(outputs, ensure_ascii=False)


def _first_generation(generations: Any) -> str | None:
    """The text of the first generation of an llm run's outputs (`[[{"text", "message"}]]`)."""
    while isinstance(generations, list) and generations:
        generations = generations[0]
    if not isinstance(generations, dict):
        return None
    if isinstance(generations.get("text"), str) and generations["text"]:
        return generations["text"]
    message = _message(generations.get("message"))
    return None if message is None else _content_text(message.get("content"))


def _tool_call(run: dict[str, Any]) -> dict[str, Any]:
    """A tool run as a call: its inputs as arguments and its output as result."""
    call = {"name": run.get("name"), "arguments": run.get("inputs")}
    outputs = run.get("outputs")
    if isinstance(outputs, dict) and set(outputs) == {"output"}:
        outputs = outputs["output"]
        message = _message(outputs)
        if message is not None:  # a serialized ToolMessage
            outputs = message.get("content")
    if outputs is not None:
        call["result"] = decoded(outputs)
    return call


def _model(run: dict[str, Any]) -> str | None:
    """The model an llm run called: invocation_params.model_name (or model), else metadata.ls_model_name."""
    extra = mapping(run.get("extra"))
    params = mapping(extra.get("invocation_params"))
    metadata = mapping(extra.get("metadata"))
    answered = mapping(run.get("outputs")).get("model")  # the model that answered, in a chat.completion
    model = first(answered if isinstance(answered, str) else None, params.get("model_name"), params.get("model"),
                  metadata.get("ls_model_name"))
    return None if model is None else str(model)


def _usage(llm_runs: list[dict[str, Any]]) -> dict[str, int]:
    """Token counts summed over the llm runs that state them; a count none states is left out."""
    totals: dict[str, int] = {}
    for run in llm_runs:
        outputs = mapping(run.get("outputs"))
        stated = mapping(first(outputs.get("usage_metadata"), run.get("usage_metadata")))  # the wrappers' usage
        details = mapping(first(run.get("prompt_token_details"), stated.get("input_token_details")))
        counts = {"input_tokens": count(first(run.get("prompt_tokens"), stated.get("input_tokens"))),
                  "output_tokens": count(first(run.get("completion_tokens"), stated.get("output_tokens"))),
                  "cached_input_tokens": count(details.get("cache_read"))}
        for key, value in counts.items():
            if value is not None:
                totals[key] = totals.get(key, 0) + value
    return totals


def _latency_ms(root: dict[str, Any]) -> float | None:
    """The root run's wall time, end - start, in milliseconds."""
    start, end = parse_time(root.get("start_time")), parse_time(root.get("end_time"))
    return None if start is None or end is None else round((end - start).total_seconds() * 1000, 3)


def _error(error: Any) -> dict[str, Any] | None:
    """The root's error: `ValueError('no such order')` or `openai.RateLimitError: ...` (then a
    traceback) gives type and message; other text is an `agent_error` with the whole text."""
    if error is None or error == "":
        return None
    text = str(error).strip()
    head = text.split("\n", 1)[0].strip()
    match = _EXCEPTION.fullmatch(head)
    if match is None:
        return {"type": "agent_error", "message": text}
    kind, message = (match[1], match[2]) if match[1] else (match[3], match[4])
    message = message.strip()
    if len(message) >= 2 and message[0] == message[-1] and message[0] in "'\"":
        message = message[1:-1]
    return {"type": kind.rsplit(".", 1)[-1], "message": message}
