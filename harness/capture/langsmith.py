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

import heapq
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from harness.canonical import Malformed
from harness.capture.base import RawBatch
from harness.capture.documents import iter_documents
from harness.capture.gather import Spill, gathered
from harness.capture.langsmith_record import start_key, trace_record
from harness.capture.values import Item, batches, identifier, malformed, merged_variants

__all__ = ["LangSmithReader"]

Routing = tuple[str | None, str | None, str | None, bool]
"""What gathering keeps of every run in memory: its trace_id, parent_run_id, the trace its
dotted_order names (all as ids, interned: the runs of a trace share them), and whether it is
complete (has an end_time)."""
Located = tuple[str, int, Routing]
"""A run's file, line and routing."""
_LOST = "a child run whose trace is unknown (no trace_id, no dotted_order, and its parent is not in the files)"


@dataclass(frozen=True)
class _Group:
    """Runs that make one item at one place: a trace with a root run (its record, at the first
    root's place), or one run that is malformed (its trace has no root run, or is unknown)."""

    place: tuple[int, int]
    run_ids: list[str]
    trace_id: str | None
    """None for a run whose trace is unknown."""
    root: str | None
    """The root run's id; None for a malformed run."""


class LangSmithReader:
    """Reads LangSmith runs; one request per trace."""

    name = "langsmith"
    variant_from: str | None = None
    """Where each trace's captured variant is: a metadata key (`revision_id`, ...), `tags`, or
    `tag:NAME` (see values.variant_value)."""
    spill: Callable[[], Spill] | None = None
    """Makes the Spill a group too large for memory (gather.spills) gathers its runs in (the ingest
    gives harness.store.Spill); None gathers every group in memory."""

    @staticmethod
    def matches(document: Any) -> bool:
        """A run: an id and a run_type."""
        return isinstance(document, dict) and "run_type" in document and "id" in document

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]:
        """One record per trace, in the file order of its root run; runs that cannot join one are malformed.

        The SDK's payloads send a run twice, created (`post`) then completed (`patch`, perhaps
        without its id, which its `dotted_order` ends with): the completion is merged into the run.
        A group too large for memory (gather.spills) gathers its runs on disk instead."""
        items = gathered(paths, self.spill, lambda: self._in_memory(paths, hashers),
                         lambda spill: self._spilled(paths, hashers, spill))
        return batches(merged_variants(list(items)) if self.variant_from else items, seq_start)

    def _in_memory(self, paths: list[Path], hashers: dict[Path, Any]) -> Iterator[Item]:
        """Every record and malformed item of the group, in file and line order, the runs gathered in memory."""
        whole: dict[str, dict[str, Any]] = {}

        def keep(run_id: str, piece: dict[str, Any]) -> None:
            if run_id in whole:
                whole[run_id].update(piece)  # a completion
            else:
                whole[run_id] = piece

        bad: list[Malformed] = []
        runs = _gathered(paths, hashers, keep, bad)
        return _ordered(bad, ((group, whole) for group in _groups(runs, paths)), runs, paths, self.variant_from)

    def _spilled(self, paths: list[Path], hashers: dict[Path, Any], spill: Spill) -> Iterator[Item]:
        """The group's items as `_in_memory` gives them, the runs gathered in `spill` by run id and
        read back by the item they make."""
        bad: list[Malformed] = []
        runs = _gathered(paths, hashers, lambda run_id, piece: spill.put(run_id, pickle.dumps(piece, 5)), bad)
        groups = _groups(runs, paths)
        membership = ((run_id, number) for number, group in enumerate(groups) for run_id in group.run_ids)
        found = ((groups[number], {run_id: _merged(pieces) for run_id, pieces in values.items()})
                 for number, values in spill.regrouped(membership))
        return _ordered(bad, found, runs, paths, self.variant_from)


def _gathered(paths: list[Path], hashers: dict[Path, Any], keep: Callable[[str, dict[str, Any]], Any],
              bad: list[Malformed]) -> dict[str, Located]:
    """Every run of the group to `keep(run_id, piece)`, in file and line order: a run, then any
    completion of it. Returns each run's first place and its routing (completions merged); the
    lines that hold no run, and repeated runs, go to `bad`."""
    runs: dict[str, Located] = {}
    for path in paths:
        source = str(path)
        for line, run, error in iter_documents(path, hashers[path]):
            if error is not None:
                bad.append(Malformed(source, line, error))
                continue
            run_id = _run_id(run)
            earlier = runs.get(run_id) if run_id is not None else None
            if run_id is None or (earlier is None and "run_type" not in run):
                bad.append(malformed(source, line, "not a LangSmith run (no id and run_type)", run))
            elif earlier is None:
                runs[run_id] = (source, line, _routing(run, (None, None, None, False)))
                keep(run_id, {**run, "id": run_id})
            elif not earlier[2][3] and ("end_time" in run or "outputs" in run):
                piece = {key: value for key, value in run.items() if value is not None}
                runs[run_id] = (earlier[0], earlier[1], _routing(piece, earlier[2]))
                keep(run_id, piece)
            else:
                bad.append(malformed(source, line, f"run {run_id} again (first at {earlier[0]}:{earlier[1]})", run))
    return runs


def _groups(runs: dict[str, Located], paths: list[Path]) -> list[_Group]:
    """The items the runs make, in file and line order of their places (ties: runs whose trace is
    unknown first, then traces in the order of their first run)."""
    order = {str(path): i for i, path in enumerate(paths)}

    def place(run_id: str) -> tuple[int, int]:
        return order[runs[run_id][0]], runs[run_id][1]

    lost: list[_Group] = []
    traces: dict[str, list[str]] = {}
    for run_id, located in runs.items():
        trace_id = _trace_id(run_id, located[2], runs)
        if trace_id is None:
            lost.append(_Group(place(run_id), [run_id], None, None))
        else:
            traces.setdefault(trace_id, []).append(run_id)
    groups = lost
    for trace_id, run_ids in traces.items():
        roots = [run_id for run_id in run_ids if runs[run_id][2][1] is None]
        if roots:
            groups.append(_Group(place(roots[0]), run_ids, trace_id, roots[0]))
        else:
            groups.extend(_Group(place(run_id), [run_id], trace_id, None) for run_id in run_ids)
    return sorted(groups, key=lambda group: group.place)


def _ordered(bad: list[Malformed], found: Iterable[tuple[_Group, dict[str, dict[str, Any]]]],
             runs: dict[str, Located], paths: list[Path], variant_from: str | None) -> Iterator[Item]:
    """The items of the groups (`found`: each group in order, with its runs whole) and the bad
    lines, in file and line order (at the same place, a bad line first)."""
    order = {str(path): i for i, path in enumerate(paths)}
    placed = (((order[item.source], item.line or 0), item) for item in bad)
    made = ((group.place, _item(group, whole, runs, variant_from)) for group, whole in found)
    for _, item in heapq.merge(placed, made, key=itemgetter(0)):
        yield item


def _item(group: _Group, whole: dict[str, dict[str, Any]], runs: dict[str, Located], variant_from: str | None
          ) -> Item:
    """The record of a trace, at its root's place, or a run that makes none, malformed."""
    if group.root is None:
        source, line, _ = runs[group.run_ids[0]]
        reason = _LOST if group.trace_id is None else (
            f"trace {group.trace_id} has no root run (without parent_run_id) in the files")
        return malformed(source, line, reason, whole[group.run_ids[0]])
    root = whole[group.root]
    children = sorted((whole[run_id] for run_id in group.run_ids if run_id != group.root), key=start_key)
    return runs[group.root][0], runs[group.root][1], trace_record(root, children, variant_from)


def _merged(pieces: list[bytes]) -> dict[str, Any]:
    """A spilled run: the run, then its completions merged into it."""
    run: dict[str, Any] = pickle.loads(pieces[0])
    for piece in pieces[1:]:
        run.update(pickle.loads(piece))
    return run


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


def _routing(piece: dict[str, Any], earlier: Routing) -> Routing:
    """A run's routing: `earlier`'s, with what `piece` (the run, or a completion of it) says instead."""
    trace, parent, dotted, complete = earlier
    if "trace_id" in piece:
        trace = _interned(piece["trace_id"])
    if "parent_run_id" in piece:
        parent = _interned(piece["parent_run_id"])
    if "dotted_order" in piece:
        order = piece["dotted_order"]
        head = order.split(".", 1)[0] if isinstance(order, str) else ""
        dotted = sys.intern(head.split("Z", 1)[1]) or None if "Z" in head else None
    if "end_time" in piece:
        complete = piece["end_time"] is not None
    return trace, parent, dotted, complete


def _interned(value: Any) -> str | None:
    """An id as values.identifier gives it, interned."""
    text = identifier(value)
    return None if text is None else sys.intern(text)


def _trace_id(run_id: str, routing: Routing, runs: dict[str, Located]) -> str | None:
    """The trace a run belongs to: its trace_id; its own id when it is a root; the run its
    dotted_order starts with; else the root its parent_run_ids lead to in the files."""
    trace, parent, dotted, _ = routing
    if trace is not None:
        return trace
    if parent is None:
        return run_id
    if dotted is not None:
        return dotted
    seen: set[str] = set()
    while parent is not None:
        if parent in seen or parent not in runs:
            return None
        seen.add(parent)
        run_id, parent = parent, runs[parent][2][1]
    return run_id


READERS: list[type] = [LangSmithReader]
