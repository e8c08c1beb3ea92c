"""LangSmith run exports: the runs of each trace become one request.

Reads JSON, JSON Lines or `{"runs": [...]}` of runs `{"id", "trace_id", "parent_run_id", "name",
"run_type", "start_time", "end_time", "inputs", "outputs", "error", "extra": {"metadata",
"invocation_params"}, "tags", "prompt_tokens", "completion_tokens", "total_cost", ...}`, grouped
by trace_id across the files of the group (a root without one is its own trace; a child without
one joins the root its dotted_order starts with, or its parent_run_ids lead to). The SDK's own
payloads (`{"post": [...], "patch": [...]}`) are read too: a completion (`patch`, whose id may only
be in its dotted_order) is merged into the run it completes.
The root run (no parent_run_id) carries the request:

- request_id: the root run id; timestamp: its start_time (a time without an offset is UTC, as
  LangSmith writes them); user_id: metadata `user_id`; session_id: metadata `session_id`,
  `thread_id` or `conversation_id` (the run's own `session_id` is the LangSmith project, not a
  conversation); metadata: the root's `extra.metadata` plus its `tags`
- input: the root inputs' `messages` in chat form (OpenAI-style dicts, LangChain-serialized
  messages, `{"type": "human", ...}` dicts), else the `input` / `question` / `query` string, else
  the inputs as JSON text
- captured: output = the root outputs' `output` / `answer` text, the last message, the first
  generation, or a `chat.completion`'s first choice (the OpenAI wrapper), else the outputs as JSON text; tool calls = the tool runs in start order (name,
  inputs as arguments, output as result), null when the trace has only its root; usage summed
  over llm runs (their token fields, else the outputs' `usage_metadata`); model = the last llm
  run's answering model (`outputs.model`), else `invocation_params.model_name` (or
  `metadata.ls_model_name`); cost = the root's total_cost, else the llm runs' summed; latency =
  root end - start; error = the root error (`Type('message')` gives type and message).

Runs of a trace without a root run in the files, and repeated run ids, are malformed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.canonical import Malformed
from harness.capture.base import RawBatch
from harness.capture.documents import iter_documents
from harness.capture.values import (
    Item,
    batches,
    collector_paused,
    count,
    decoded,
    first,
    identifier,
    malformed,
    mapping,
    merged_variants,
    number,
    parse_time,
    summed,
    timestamp,
    variant_value,
)

__all__ = ["LangSmithReader", "chat_messages"]

Located = tuple[str, int, dict[str, Any]]
"""A run with its file and line."""

_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant", "system": "system",
          "tool": "tool", "function": "function", "developer": "developer"}
_LC_ROLES = {"HumanMessage": "human", "AIMessage": "ai", "SystemMessage": "system", "ToolMessage": "tool",
             "FunctionMessage": "function"}
_EXCEPTION = re.compile(r"([A-Za-z_][\w.]*)\((.*)\)|([A-Za-z_][\w.]*(?:Error|Exception)): (.*)")


class LangSmithReader:
    """Reads LangSmith runs; one request per trace."""

    name = "langsmith"
    variant_from: str | None = None
    """Where each trace's captured variant is: a metadata key (`revision_id`, ...), `tags`, or
    `tag:NAME` (see values.variant_value)."""

    @staticmethod
    def matches(document: Any) -> bool:
        """A run: an id and a run_type."""
        return isinstance(document, dict) and "run_type" in document and "id" in document

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]:
        """One record per trace, in the file order of its root run; runs that cannot join one are malformed.

        The SDK's payloads send a run twice, created (`post`) then completed (`patch`, perhaps
        without its id, which its `dotted_order` ends with): the completion is merged into the run."""
        with collector_paused():
            items = self._items(paths, hashers)
        return batches(merged_variants(items) if self.variant_from else items, seq_start)

    def _items(self, paths: list[Path], hashers: dict[Path, Any]) -> list[Item]:
        """Every record and malformed item of the group, in file and line order."""
        items: list[Item] = []
        runs: dict[str, Located] = {}
        for path in paths:
            source = str(path)
            for line, run, error in iter_documents(path, hashers[path]):
                if error is not None:
                    items.append(Malformed(source, line, error))
                    continue
                run_id = _run_id(run)
                earlier = runs.get(run_id) if run_id is not None else None
                if run_id is None or (earlier is None and "run_type" not in run):
                    items.append(malformed(source, line, "not a LangSmith run (no id and run_type)", run))
                elif earlier is None:
                    runs[run_id] = (source, line, {**run, "id": run_id})
                elif earlier[2].get("end_time") is None and ("end_time" in run or "outputs" in run):
                    earlier[2].update({key: value for key, value in run.items() if value is not None})
                else:
                    items.append(malformed(source, line, f"run {run_id} again (first at {earlier[0]}:{earlier[1]})",
                                           run))
        traces: dict[str, list[Located]] = {}
        for run_id, located in runs.items():
            trace_id = _trace_id(located[2], runs)
            if trace_id is None:
                items.append(malformed(located[0], located[1], "a child run whose trace is unknown (no trace_id, no "
                                       "dotted_order, and its parent is not in the files)", located[2]))
            else:
                traces.setdefault(trace_id, []).append(located)
        for trace_id, located_runs in traces.items():
            items.extend(_trace_items(trace_id, located_runs, self.variant_from))
        order = {str(path): i for i, path in enumerate(paths)}
        items.sort(key=lambda item: _place(item, order))
        return items


def _place(item: Item, order: dict[str, int]) -> tuple[int, int]:
    """Where an item sits in the group: its file's position, then its line."""
    if isinstance(item, Malformed):
        return order[item.source], item.line or 0
    return order[item[0]], item[1]


def _run_id(run: Any) -> str | None:
    """A run's id, or the one its dotted_order ends with (`...Z<run id>`)."""
    if not isinstance(run, dict):
        return None
    if run.get("id") is not None:
        return identifier(run["id"])
    dotted = run.get("dotted_order")
    if isinstance(dotted, str) and "Z" in dotted:
        return dotted.rsplit(".", 1)[-1].split("Z", 1)[1] or None
    return None


def _trace_id(run: dict[str, Any], runs: dict[str, Located]) -> str | None:
    """The trace a run belongs to: its trace_id; its own id when it is a root; the run its
    dotted_order starts with; else the root its parent_run_ids lead to in the files."""
    if run.get("trace_id") is not None:
        return identifier(run["trace_id"])
    if run.get("parent_run_id") is None:
        return identifier(run["id"])
    dotted = run.get("dotted_order")
    if isinstance(dotted, str) and "Z" in dotted.split(".", 1)[0]:
        return dotted.split(".", 1)[0].split("Z", 1)[1] or None
    seen: set[str] = set()
    while run.get("parent_run_id") is not None:
        parent = str(identifier(run["parent_run_id"]))
        if parent in seen or parent not in runs:
            return None
        seen.add(parent)
        run = runs[parent][2]
    return identifier(run["id"])


def _trace_items(trace_id: str, runs: list[Located], variant_from: str | None) -> list[Item]:
    """The record of one trace, at its root run's place; or every run malformed when there is no root."""
    roots = [located for located in runs if located[2].get("parent_run_id") is None]
    if not roots:
        return [malformed(s, n, f"trace {trace_id} has no root run (without parent_run_id) in the files", run)
                for s, n, run in runs]
    source, line, root = roots[0]
    children = sorted((run for _, _, run in runs if run is not root), key=_start_key)
    return [(source, line, _record(root, children, variant_from))]


def _start_key(run: dict[str, Any]) -> tuple[bool, datetime | None, str]:
    """Runs in start order (dotted_order breaks ties); runs without a start time last."""
    moment = parse_time(run.get("start_time"))
    return moment is None, moment, str(run.get("dotted_order") or "")


def _record(root: dict[str, Any], children: list[dict[str, Any]], variant_from: str | None) -> dict[str, Any]:
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


READERS: list[type] = [LangSmithReader]
