"""Spans and traces, shared by the OpenTelemetry GenAI and OpenInference readers.

The span model, the helpers that turn span attributes into chat messages, and `TraceReader`: it
collects every span of a group of files by trace (a trace's spans may be spread over lines and
files), builds one canonical record per trace through a few per-convention methods, and
quarantines what cannot become a request. Span documents are decoded by harness.capture.otlp
(OTLP JSON) and harness.capture.dict_spans (Phoenix and OpenTelemetry SDK span objects).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from harness.canonical import Malformed
from harness.capture.base import RawBatch
from harness.capture.documents import iter_documents
from harness.capture.gather import Spill, gathered
from harness.capture.span_values import (
    first_value,
    iso_utc,
    output_text,
)
from harness.capture.values import Item, batches, decoded, merged_variants, variant_value

__all__ = [
    "Span",
    "ToolSpan",
    "TraceReader",
    "by_start",
]

Event = tuple[str, dict[str, Any]]
"""A span event: its name and plain attributes."""


@dataclass(slots=True)
class Span:
    """One span, whatever the export format: ids, name, times in ns since the epoch, plain values."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_ns: int | None
    end_ns: int | None
    attributes: dict[str, Any]
    events: list[Event]
    status: str
    """One of OK, ERROR, UNSET."""
    status_message: str
    resource: dict[str, Any]
    source: str
    line: int


class ToolSpan(NamedTuple):
    """What a tool span says about its call; None where it does not say."""

    call_id: str | None
    name: str
    arguments: Any
    result: Any


# ---------------------------------------------------------------------------------------------
# Plain values


class TraceReader:
    """Base of the span formats: gather every span of the group by trace, then one record per trace.

    A subclass turns one document into spans (`spans_of`) and names its conventions through the
    hooks below; the record is assembled here the same way for every convention."""

    name = "traces"
    batch_size = 5_000
    model_kind = "model"
    """What the convention calls a model-call span, in quarantine reasons."""
    user_keys: tuple[str, ...] = ()
    session_keys: tuple[str, ...] = ()
    variant_from: str | None = None
    """Where each trace's captured variant is (`--variant-from`): a resource or span attribute."""
    spill: Callable[[], Spill] | None = None
    """Makes the Spill a group too large for memory (gather.spills) gathers its spans in (the ingest
    gives harness.store.Spill); None gathers every group in memory."""

    def variant(self, spans: list[Span]) -> str:
        """`prod`, or the `variant_from` attribute: resource attributes, then span attributes (root first)."""
        if self.variant_from is None:
            return "prod"
        attributes: dict[str, Any] = {}
        for span in spans:
            for key, value in (*span.resource.items(), *span.attributes.items()):
                attributes.setdefault(key, value)
        return variant_value(attributes, self.variant_from)

    def spans_of(self, document: Any, source: str, line: int) -> list[Span]:
        """The spans in one JSON document; ValueError when it holds none of this format."""
        raise NotImplementedError

    def is_model(self, span: Span) -> bool:
        """A span of one call to a model (chat, LLM)."""
        raise NotImplementedError

    def is_tool(self, span: Span) -> bool:
        """A span of one tool execution."""
        raise NotImplementedError

    def stand_ins(self, spans: list[Span]) -> list[Span]:
        """Spans to read as model calls when the trace has none."""
        return []

    def input_messages(self, span: Span) -> list[dict[str, Any]]:
        """The messages sent to the model, in OpenAI chat form."""
        raise NotImplementedError

    def output_messages(self, span: Span) -> list[dict[str, Any]]:
        """The messages the model answered, in OpenAI chat form."""
        raise NotImplementedError

    def root_input(self, root: Span) -> Any:
        """The user input the root span holds, when no model span has input messages."""
        messages = self.input_messages(root)
        return {"messages": messages} if messages else None

    def root_output(self, root: Span) -> str | None:
        """The answer the root span holds, when the last model span has none."""
        return output_text(self.output_messages(root))

    def tool_call(self, span: Span) -> ToolSpan:
        """The call one tool span records: its id, tool name, arguments and result."""
        raise NotImplementedError

    def usage(self, span: Span) -> dict[str, int | None]:
        """input_tokens, output_tokens, cached_input_tokens of one model span (None: not reported)."""
        raise NotImplementedError

    def cost(self, span: Span) -> float | None:
        """What one model span cost in USD, when it says."""
        return None

    def model(self, span: Span) -> str | None:
        """The model one model span used (the one that answered, when it says)."""
        raise NotImplementedError

    def metadata(self, spans: list[Span]) -> dict[str, Any]:
        """Metadata of a trace; spans come root first, then in start order."""
        raise NotImplementedError

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]:
        """Read every file, group spans by trace, then yield records file by file (a trace belongs
        to the file and line of its first span), with the lines and traces that could not be read.
        With `variant_from`, traces of one request id and different variants become one record.
        A group too large for memory (gather.spills) gathers its spans on disk instead of in memory."""
        items = gathered(paths, self.spill, lambda: self._in_memory(paths, hashers),
                         lambda spill: self._spilled(paths, hashers, spill))
        return batches(merged_variants(list(items)) if self.variant_from else items, seq_start)

    def _in_memory(self, paths: list[Path], hashers: dict[Path, Any]) -> Iterator[Item]:
        """The group's items, its spans gathered in memory by trace."""
        traces: dict[str, list[Span]] = {}
        malformed = self._gathered(paths, hashers, lambda span: traces.setdefault(span.trace_id, []).append(span))
        return self._items(traces.items(), malformed)

    def _spilled(self, paths: list[Path], hashers: dict[Path, Any], spill: Spill) -> Iterator[Item]:
        """The group's items as `_in_memory` gives them, the spans gathered in `spill` by trace."""
        malformed = self._gathered(paths, hashers, lambda span: spill.put(span.trace_id, pickle.dumps(span, 5)))
        traces = ((trace_id, [pickle.loads(value) for value in values]) for trace_id, values in spill.groups())
        yield from self._items(traces, malformed)

    def _gathered(self, paths: list[Path], hashers: dict[Path, Any], keep: Callable[[Span], Any]
                  ) -> dict[str, list[Malformed]]:
        """Every span of the group to `keep`, in file and line order; the lines that hold none, by file."""
        malformed: dict[str, list[Malformed]] = {str(path): [] for path in paths}
        for path in paths:
            source = str(path)
            for line, document, error in iter_documents(path, hashers[path]):
                try:
                    if error is not None:
                        raise ValueError(error)
                    spans = self.spans_of(document, source, line)
                except ValueError as exc:
                    raw = None if document is None else json.dumps(document, ensure_ascii=False, default=str)
                    malformed[source].append(Malformed(source, line, str(exc), raw))
                    continue
                for span in spans:
                    keep(span)
        return malformed

    def _items(self, traces: Iterable[tuple[str, list[Span]]], malformed: dict[str, list[Malformed]]
               ) -> Iterator[Item]:
        """Every record and malformed item of the group, file by file, each file's records first:
        `traces` come in the order of their first span, so a file is done once a trace of a later
        file comes (then its unreadable lines and traces follow its records)."""
        sources = list(malformed)
        failed: dict[str, list[Malformed]] = {source: [] for source in sources}
        done = 0
        for trace_id, spans in traces:
            first = spans[0]
            while sources[done] != first.source:
                yield from (*malformed[sources[done]], *failed[sources[done]])
                done += 1
            try:
                yield first.source, first.line, self.record(trace_id, spans)
            except ValueError as exc:
                failed[first.source].append(Malformed(first.source, first.line, str(exc), _trace_raw(trace_id, spans)))
        for source in sources[done:]:
            yield from (*malformed[source], *failed[source])

    def record(self, trace_id: str, spans: list[Span]) -> dict[str, Any]:
        """The canonical record of one trace; ValueError when it holds no user input."""
        ordered = by_start(spans)
        root = _root(ordered)
        root_first = [root, *(s for s in ordered if s is not root)] if root else ordered
        models = [s for s in ordered if self.is_model(s)] or self.stand_ins(ordered)
        last = models[-1] if models else None
        timestamp, latency = _timing(ordered, root)
        read = [(self.output_messages(s), self.input_messages(s)) for s in models]  # each span's messages, once
        outputs, inputs = [answered for answered, _ in read], [sent for _, sent in read]
        captured = {
            "variant": self.variant(root_first),
            "output": (output_text(outputs[-1]) if last else None) or (self.root_output(root) if root else None),
            "model": next((m for s in reversed(models) if (m := self.model(s))), None),
            "tool_calls": self._tool_calls(ordered, inputs, outputs),
            "usage": _summed_usage([self.usage(s) for s in models]),
            "cost_usd": _total_cost([self.cost(s) for s in models]),
            "latency_ms": latency,
            "error": next((e for s in (last, root) if s is not None and (e := _span_error(s)) is not None), None),
        }
        return _without_none({
            "request_id": trace_id,
            "timestamp": timestamp,
            "user_id": first_value(root_first, self.user_keys),
            "session_id": first_value(root_first, self.session_keys),
            "input": self._user_input(trace_id, ordered, models, inputs, root),
            "metadata": self.metadata(root_first) or None,
            "captured": _without_none(captured),
        })

    def _user_input(self, trace_id: str, spans: list[Span], models: list[Span], inputs: list[list[dict[str, Any]]],
                    root: Span | None) -> Any:
        """The first model span's input messages (`inputs`, one list per model span), else what the
        root holds; ValueError when neither."""
        messages = next((m for m in inputs if m), None)
        if messages:
            return {"messages": messages}
        found = self.root_input(root) if root is not None else None
        if found:
            return found
        names = ", ".join(s.name for s in spans[:5]) + (", ..." if len(spans) > 5 else "")
        if not models:
            raise ValueError(f"trace {trace_id}: no {self.model_kind} span and no user input in its "
                             f"{len(spans)} span(s) ({names})")
        raise ValueError(f"trace {trace_id}: its {len(models)} {self.model_kind} span(s) carry no input "
                         f"messages (was message content capture off?) and no span holds the user input")

    def _tool_calls(self, spans: list[Span], inputs: list[list[dict[str, Any]]],
                    outputs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Tool spans in start order, completed from the model spans' messages (`inputs`, `outputs`:
        one list per model span) by call id; without tool spans, the tool calls the model spans
        asked for, with the results later sent back."""
        asked: list[dict[str, Any]] = []
        answers: dict[str, Any] = {}
        for sent, answered in zip(inputs, outputs, strict=True):
            asked += [call for m in answered for call in m.get("tool_calls", [])]
            answers |= {m["tool_call_id"]: m.get("content") for m in sent if m.get("tool_call_id")}
        by_id = {call["id"]: call for call in asked if call.get("id")}
        tool_spans = [self.tool_call(s) for s in spans if self.is_tool(s)]
        if not tool_spans:
            tool_spans = [ToolSpan(c.get("id"), c["function"]["name"], c["function"]["arguments"], None) for c in asked]
        calls = []
        for call in tool_spans:
            arguments, result, call_id = call.arguments, call.result, str(call.call_id or "")
            if arguments is None and call_id in by_id:
                arguments = by_id[call_id]["function"]["arguments"]
            if result is None and call_id in answers:
                result = answers[call_id]
            entry = {"name": call.name, "arguments": decoded(arguments)}
            if result is not None:
                entry["result"] = decoded(result)
            calls.append(entry)
        return calls


def by_start(spans: Iterable[Span]) -> list[Span]:
    """Spans in start order (a span without a start time last)."""
    return sorted(spans, key=lambda s: (s.start_ns is None, s.start_ns or 0))


def _root(spans: list[Span]) -> Span | None:
    """The one span whose parent is not in the trace; None when there are several (a partial trace)."""
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_id or s.parent_id not in ids]
    return roots[0] if len(roots) == 1 else None


def _timing(spans: list[Span], root: Span | None) -> tuple[str | None, float | None]:
    """(timestamp, latency_ms): the root span's start and duration, else first start to last end."""
    start: int | None
    end: int | None
    if root is not None and root.start_ns is not None and root.end_ns is not None:
        start, end = root.start_ns, root.end_ns
    else:
        start = min((s.start_ns for s in spans if s.start_ns is not None), default=None)
        end = max((s.end_ns for s in spans if s.end_ns is not None), default=None)
    timestamp = iso_utc(start) if start is not None else None
    latency = round((end - start) / 1e6, 3) if start is not None and end is not None and end >= start else None
    return timestamp, latency


def _span_error(span: Span) -> dict[str, str] | None:
    """The error of a span whose status is ERROR: `error.type` and the status message, else what
    its exception event says (an error with neither stays an error, of unknown type)."""
    if span.status != "ERROR":
        return None
    exception = next((attrs for name, attrs in reversed(span.events) if name == "exception"), {})
    kind = span.attributes.get("error.type") or exception.get("exception.type")
    message = span.status_message or exception.get("exception.message")
    return {key: str(value) for key, value in (("type", kind), ("message", message)) if value}


def _summed_usage(usages: list[dict[str, int | None]]) -> dict[str, int] | None:
    """Token counts summed over the spans that report them; a count no span reports is left out."""
    totals = {}
    for key in ("input_tokens", "output_tokens", "cached_input_tokens"):
        values = [u[key] for u in usages if u.get(key) is not None]
        if values:
            totals[key] = sum(values)  # type: ignore[arg-type]
    return totals or None


def _total_cost(costs: list[float | None]) -> float | None:
    """The trace's cost when every model span states its own (a stated 0 counts); else None, so
    that a partial sum never passes for the whole and the price table can fill it in."""
    return sum(costs) if costs and all(c is not None for c in costs) else None  # type: ignore[arg-type]


def _without_none(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if value is not None}


def _trace_raw(trace_id: str, spans: list[Span]) -> str:
    """What the quarantine keeps of a trace that could not become a request."""
    return json.dumps({"traceId": trace_id, "spans": [
        {"name": s.name, "spanId": s.span_id, "parentSpanId": s.parent_id, "attributes": s.attributes}
        for s in spans
    ]}, ensure_ascii=False, default=str)  # fmt: skip

