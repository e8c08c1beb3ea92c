"""Langfuse exports: traces, with their observations embedded or exported separately.

Reads the UI's trace download (`{"trace": {...}, "observations": [...]}`), JSON, JSON Lines, or an
API page (`{"data": [...]}`) of traces `{"id", "timestamp", "name",
"userId", "sessionId", "input", "output", "metadata", "tags", "release", "version", "latency"
(seconds), "totalCost", "observations": [...]}` and of observations `{"id", "traceId", "type",
"name", "startTime", "endTime", "model", "input", "output", "usage" / "usageDetails",
"costDetails" / "calculatedTotalCost", "level", "statusMessage", "metadata"}`; observations in
any file of the group are joined to their trace by traceId. One trace becomes one request:

- request_id: the trace id; timestamp, user_id, session_id: `timestamp`, `userId`, `sessionId`
- input: the trace input, else the input of the first observation that has one: a list of
  role/content messages (or an object holding one under `messages`) in chat form; else text: a
  string, the one string argument of an `@observe`d call, an object's `input` / `query` /
  `question` / `message` / `text` / `content` / `prompt` string, or the value as JSON text
- metadata: the trace metadata plus its `name`, `tags`, `release` and `version`
- values Langfuse stores as JSON text (input, output, metadata; sometimes encoded twice) are
  decoded, and LangChain messages (`{"type": "human", ...}`) read as chat messages
- captured: output = the text of the trace output, else of the last generation's output; tool
  calls = TOOL observations, SPANs whose metadata marks them a tool, and SPANs whose output is a
  LangChain ToolMessage (LangGraph's tool node), in start order (arguments from the metadata's
  `inputs` when the input is only a Python repr), null when the trace has no observations; usage
  summed over the innermost GENERATIONs (one wrapping others repeats their usage); model = the
  last generation's; cost = `totalCost`, else those observations' costs summed; latency = `latency` in ms, else first start to last end; error =
  the first observation of level ERROR (`<type>_error`, its statusMessage).

An observation whose trace is not in the files is malformed.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.canonical import Malformed
from harness.capture.base import RawBatch
from harness.capture.documents import iter_documents, line_documents
from harness.capture.langsmith_record import chat_messages
from harness.capture.values import (
    Item,
    batches,
    count,
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

__all__ = ["EXTRA_KEYS", "TEXT_KEYS", "TRACE_KEYS", "LangfuseReader", "line_items"]

Located = tuple[str, int, dict[str, Any]]
"""A document with its file and line."""

TRACE_KEYS = ("observations", "userId", "sessionId", "totalCost", "latency", "htmlPath", "projectId")
"""Keys only a trace has (an observation has `traceId` instead)."""
TEXT_KEYS = ("content", "output", "text", "answer", "response", "message")
"""Where an output object holds its text, in the order they are tried."""
EXTRA_KEYS = ("name", "tags", "release", "version")
"""Trace fields copied into the request's metadata."""
_INPUT_KEYS = ("input", "query", "question", "message", "text", "content", "prompt")
_VARIANT_KEYS = ("release", "version", "environment", "tags", "name")
_CACHED_KEYS = ("cache_read_input_tokens", "input_cached_tokens", "input_cache_read", "cached_tokens")


class LangfuseReader:
    """Reads Langfuse trace and observation exports; one request per trace."""

    name = "langfuse"
    variant_from: str | None = None
    """Where each trace's captured variant is: `release`, `version`, `environment`, a metadata key,
    or `tag:NAME` (see values.variant_value)."""

    @staticmethod
    def matches(document: Any) -> bool:
        """A Langfuse trace or observation (camelCase keys no other format uses together)."""
        document = _unwrapped(document)
        return _is_trace(document) or _is_observation(document)

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]:
        """Traces in file order, each with its observations; then observations of no trace."""
        traces: list[Located | Malformed] = []
        observations: dict[str, list[Located]] = {}
        for path in paths:
            source = str(path)
            for line, document, error in iter_documents(path, hashers[path]):
                document = _unwrapped(document)
                if error is not None:
                    traces.append(Malformed(source, line, error))
                elif _is_trace(document):
                    traces.append((source, line, document))
                elif _is_observation(document):
                    observations.setdefault(str(identifier(document["traceId"])), []).append((source, line, document))
                else:
                    traces.append(malformed(source, line, "neither a Langfuse trace nor an observation", document))
        items: list[Item] = [
            item if isinstance(item, Malformed)
            else (item[0], item[1], _record(item[2], observations.pop(str(identifier(item[2]["id"])), []),
                                            self.variant_from))
            for item in traces
        ]
        items += [_orphan(s, n, d) for located in observations.values() for s, n, d in located]
        return batches(merged_variants(items) if self.variant_from else items, seq_start)


def line_items(source: str, number: int, text: bytes | bytearray) -> list[Item]:
    """What read_group makes of one line of a JSON Lines group that holds no separate observations
    (harness.ingest_converted converts such groups in SQL and hands it the lines the SQL leaves)."""
    out: list[Item] = []
    for document, error in line_documents(text):
        item = _unwrapped(document)
        if error is not None:
            out.append(Malformed(source, number, error))
        elif _is_trace(item):
            out.append((source, number, _record(item, [], None)))
        else:
            out.append(_orphan(source, number, item) if _is_observation(item)
                       else malformed(source, number, "neither a Langfuse trace nor an observation", item))
    return out


def _orphan(source: str, line: int, observation: dict[str, Any]) -> Malformed:
    """An observation whose trace is not in the files."""
    trace_id = str(identifier(observation["traceId"]))
    return malformed(source, line, f"observation of trace {trace_id!r}, which is not in the export", observation)


def _unwrapped(document: Any) -> Any:
    """A trace downloaded with its observations (`{"trace": {...}, "observations": [...]}`, what the
    Langfuse UI's download writes) as one trace with the observations embedded."""
    if isinstance(document, dict) and isinstance(document.get("trace"), dict) and "id" not in document:
        observations = document.get("observations")
        return {**document["trace"], "observations": observations if isinstance(observations, list) else []}
    return document


def _is_trace(document: Any) -> bool:
    """A trace: id and timestamp with a key only Langfuse traces have, and no traceId."""
    return (isinstance(document, dict) and "id" in document and "timestamp" in document
            and "traceId" not in document and any(key in document for key in TRACE_KEYS))


def _is_observation(document: Any) -> bool:
    """An observation: traceId, type and startTime."""
    return isinstance(document, dict) and "traceId" in document and "type" in document and "startTime" in document


def _record(trace: dict[str, Any], separate: list[Located], variant_from: str | None) -> dict[str, Any]:
    """The canonical record of one trace and all its observations."""
    observations = _observations(trace, [d for _, _, d in separate])
    trace_input = json_value(trace.get("input"))
    if trace_input is None:
        trace_input = next((json_value(o["input"]) for o in observations if o.get("input") is not None), None)
    metadata = _metadata(trace)
    captured = _captured(trace, observations)
    if variant_from is not None:
        captured["variant"] = variant_value({**(metadata or {}), **{k: trace.get(k) for k in _VARIANT_KEYS}},
                                            variant_from)
    return {
        "request_id": identifier(trace.get("id")),
        "timestamp": timestamp(trace.get("timestamp")),
        "user_id": identifier(trace.get("userId")),
        "session_id": identifier(trace.get("sessionId")),
        "input": None if trace_input is None else _input(trace_input),
        "metadata": metadata,
        "captured": captured,
    }


def json_value(value: Any, depth: int = 3) -> Any:
    """A value Langfuse stored as JSON text (sometimes twice: `"\\"{...}\\""`) decoded; plain text
    stays as it is."""
    while depth and isinstance(value, str) and value.lstrip()[:1] in ('{', '[', '"'):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # invalid, nested too deeply, or past the digit limit
            break
        depth -= 1
    return value


def _observations(trace: dict[str, Any], separate: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Embedded and separately exported observations, each once (by id), in start order."""
    embedded = given if isinstance(given := trace.get("observations"), list) else []
    by_id: dict[str, dict[str, Any]] = {}
    for i, observation in enumerate([*embedded, *separate]):
        if isinstance(observation, dict):  # an API listing gives ids only: their objects come separately
            by_id.setdefault(str(identifier(first(observation.get("id"), f"#{i}"))), observation)
    return sorted(by_id.values(), key=_start_key)


def _start_key(observation: dict[str, Any]) -> tuple[bool, datetime | None]:
    """Observations in start order; those without a start time last."""
    moment = parse_time(observation.get("startTime"))
    return moment is None, moment


def _input(value: Any) -> str | dict[str, Any]:
    """Chat messages when the input is a conversation, else its text."""
    if isinstance(value, str):
        return value
    messages = value.get("messages") if isinstance(value, dict) else value
    if _is_chat(messages):
        return {"messages": messages}
    converted = chat_messages(messages)
    if converted:
        return {"messages": converted}
    if isinstance(value, dict):
        args, kwargs = value.get("args"), value.get("kwargs")
        if isinstance(args, list) and len(args) == 1 and isinstance(args[0], str) and not kwargs:
            return args[0]  # the @observe decorator's record of a call with one string argument
        text = next((value[key] for key in _INPUT_KEYS if isinstance(value.get(key), str)), None)
        if text is not None:
            return text
    return json.dumps(value, ensure_ascii=False)


def _is_chat(value: Any) -> bool:
    """A non-empty list of role/content messages."""
    return (isinstance(value, list) and bool(value)
            and all(isinstance(m, dict) and "role" in m and ("content" in m or "tool_calls" in m) for m in value))


def _text(value: Any) -> str | None:
    """The text of an output: a string, an assistant message's content, the last message of a
    conversation, or a known text field; else its JSON text."""
    value = json_value(value)
    if value is None or isinstance(value, str):
        return value
    if _is_chat(value):
        return _text(value[-1].get("content"))
    converted = chat_messages(value.get("messages") if isinstance(value, dict) else value)
    if converted:
        return _text(converted[-1].get("content"))
    if isinstance(value, list) and value and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
        return "".join(str(p.get("text", "")) for p in value)
    if isinstance(value, dict):
        if _is_chat(value.get("messages")):
            return _text(value["messages"][-1].get("content"))
        for key in TEXT_KEYS:
            if isinstance(value.get(key), str | list | dict):
                return _text(value[key])
    return json.dumps(value, ensure_ascii=False)


def _metadata(trace: dict[str, Any]) -> dict[str, Any] | None:
    """The trace metadata with the trace's name, tags, release and version."""
    stated = json_value(trace.get("metadata"))
    metadata = dict(stated) if isinstance(stated, dict) else ({} if stated is None else {"metadata": stated})
    for key in EXTRA_KEYS:
        if trace.get(key) not in (None, "", []):
            metadata[key] = trace[key]
    return metadata or None


def _captured(trace: dict[str, Any], observations: list[dict[str, Any]]) -> dict[str, Any]:
    """What production answered, from the trace and its observations (in start order)."""
    counted = _counted(observations)
    generations = [o for o in counted if o.get("type") == "GENERATION"]
    output = _text(trace.get("output"))
    if output in (None, ""):  # the trace's own output is often left empty: the last generation's
        output = next((text for g in reversed(generations) if (text := _text(g.get("output")))), output)
    captured: dict[str, Any] = {
        "variant": "prod",
        "output": output,
        "model": next((g["model"] for g in reversed(generations) if g.get("model")), None),
        "tool_calls": [_tool_call(o) for o in observations if _is_tool(o)] if observations else None,
        "cost_usd": first(number(trace.get("totalCost")), summed(_cost(o) for o in counted)),
        "latency_ms": _latency_ms(trace, observations),
        "error": _error(observations),
    }
    usage = _usage(generations)
    if usage:
        captured["usage"] = usage
    return captured


def _counted(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The observations whose usage and cost count: a GENERATION that has a GENERATION below it
    (an agent step wrapping its model calls) reports its children's usage again, so only the
    innermost generations count."""
    parent = {str(o.get("id")): str(o.get("parentObservationId")) for o in observations if o.get("id") is not None}
    generation_ids = {str(o.get("id")) for o in observations if o.get("type") == "GENERATION"}
    wrapping: set[str] = set()
    for generation in generation_ids:
        seen, up = {generation}, parent.get(generation)
        while up is not None and up not in seen:
            if up in generation_ids:
                wrapping.add(up)
            seen.add(up)
            up = parent.get(up)
    return [o for o in observations if str(o.get("id")) not in wrapping]


def _error(observations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first observation of level ERROR, as a `<type>_error` with its statusMessage."""
    failed = next((o for o in observations if o.get("level") == "ERROR"), None)
    if failed is None:
        return None
    return {"type": f"{str(failed.get('type') or 'observation').lower()}_error", "message": failed.get("statusMessage")}


def _is_tool(observation: dict[str, Any]) -> bool:
    """A TOOL observation, or a SPAN whose metadata says it is a tool."""
    if observation.get("type") == "TOOL":
        return True
    if observation.get("type") != "SPAN":
        return False
    metadata = mapping(observation.get("metadata"))
    kinds = [metadata.get(key) for key in ("type", "kind", "span_kind", "openinference.span.kind")]
    return any(str(k).lower() == "tool" for k in kinds if k is not None) or _tool_message(observation) is not None


def _tool_message(observation: dict[str, Any]) -> dict[str, Any] | None:
    """The output of a span that ran a LangChain tool (LangGraph's tool node records each tool as a
    SPAN whose output is the ToolMessage it returned)."""
    output = json_value(observation.get("output"))
    if isinstance(output, dict) and output.get("type") == "tool" and "tool_call_id" in output:
        return output
    return None


def _tool_call(observation: dict[str, Any]) -> dict[str, Any]:
    """A tool observation as a call: its input as arguments (LangChain's structured `inputs` in the
    metadata when the input is only their Python repr), its output (a ToolMessage's content) as result."""
    inputs = mapping(observation.get("metadata")).get("inputs")
    arguments = inputs if isinstance(inputs, dict) else _arguments(json_value(observation.get("input")))
    call = {"name": observation.get("name"), "arguments": arguments}
    message = _tool_message(observation)
    result = json_value(message.get("content") if message is not None else observation.get("output"))
    if result is not None:
        call["result"] = result
    return call


def _arguments(value: Any) -> Any:
    """Tool arguments; a Python literal (`{'query': 'x'}`, as LangChain logs them) read safely."""
    if isinstance(value, str) and value[:1] in ("{", "[") and len(value) < 100_000:
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value
    return value


def _usage(generations: list[dict[str, Any]]) -> dict[str, int]:
    """Token counts summed over the generations that state them; a count no generation states is left out."""
    totals: dict[str, int] = {}
    for generation in generations:
        for key, value in _generation_usage(generation).items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _generation_usage(generation: dict[str, Any]) -> dict[str, int]:
    """One generation's token counts from usageDetails, else usage (in tokens), else the legacy fields."""
    details = mapping(generation.get("usageDetails"))
    usage = mapping(generation.get("usage"))
    if usage.get("unit") not in (None, "TOKENS"):
        usage = {}
    counts = {
        "input_tokens": count(first(details.get("input"), usage.get("input"), generation.get("promptTokens"))),
        "output_tokens": count(first(details.get("output"), usage.get("output"), generation.get("completionTokens"))),
        "cached_input_tokens": count(first(*(details.get(key) for key in _CACHED_KEYS))),
    }
    return {key: value for key, value in counts.items() if value is not None}


def _cost(observation: dict[str, Any]) -> float | int | None:
    """An observation's total cost, when it states one."""
    details = mapping(observation.get("costDetails"))
    return number(first(details.get("total"), observation.get("calculatedTotalCost"), observation.get("totalCost")))


def _latency_ms(trace: dict[str, Any], observations: list[dict[str, Any]]) -> float | None:
    """The trace latency (seconds) in ms, else the span from the first start to the last end."""
    seconds = number(trace.get("latency"))
    if seconds is not None:
        return round(seconds * 1000, 3)
    starts = [t for t in (parse_time(o.get("startTime")) for o in observations) if t is not None]
    ends = [t for t in (parse_time(o.get("endTime")) for o in observations) if t is not None]
    if not starts or not ends:
        return None
    return round((max(ends) - min(starts)).total_seconds() * 1000, 3)


READERS: list[type] = [LangfuseReader]
