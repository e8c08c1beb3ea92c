"""Recordings: the tool calls a request's captured variant made, with their results, and the
rule that matches a replayed call to one of them.

Matching rule (README, "Tool sandbox"): first **exact**, the same tool with the same normalized
arguments (the action scorers' normalization; the first such recording); then **nearest**, the
same tool's recording at the same position: the agent's k-th call of a tool gets the k-th
recorded call of that tool (the last one when the agent calls it more often than production
did); else a **miss**.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.tools.arguments import ArgumentNormalizer

__all__ = ["Recording", "Recordings", "parse_recordings"]


@dataclass(frozen=True)
class Recording:
    """One captured call: its tool, arguments, normalized key, result, and position."""

    name: str
    arguments: Any
    key: str
    result: Any
    position: int
    """Its index among the captured calls of the same tool."""
    _stored: list[tuple[str | None, str | None]] = field(default_factory=list, compare=False, repr=False)

    def stored_result(self, serialize: Callable[[Any], tuple[str | None, str | None]]) -> tuple[str | None, str | None]:
        """`serialize(result)` (how tool events store a result), worked out on first use only: each
        arm is served the same recording."""
        if not self._stored:
            self._stored.append(serialize(self.result))
        return self._stored[0]


class Recordings:
    """The recordings of one request, indexed by tool and by (tool, normalized arguments)."""

    def __init__(self, calls: Sequence[Any], normalizer: ArgumentNormalizer) -> None:
        self.normalizer = normalizer
        self.by_tool: dict[str, list[Recording]] = {}
        self.by_key: dict[tuple[str, str], Recording] = {}
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                continue
            name, arguments = call["name"], call.get("arguments")
            same = self.by_tool.setdefault(name, [])
            recording = Recording(name, arguments, normalizer.key(name, arguments), call.get("result"), len(same))
            same.append(recording)
            self.by_key.setdefault((name, recording.key), recording)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_tool.values())

    def match(self, name: str, arguments: Any, position: int) -> tuple[str, Recording | None]:
        """('exact' | 'nearest' | 'miss', the recording) for the agent's `position`-th call of `name`."""
        exact = self.by_key.get((name, self.normalizer.key(name, arguments)))
        if exact is not None:
            return "exact", exact
        same = self.by_tool.get(name)
        if same:
            return "nearest", same[min(position, len(same) - 1)]
        return "miss", None


def parse_recordings(tool_calls: Any, normalizer: ArgumentNormalizer) -> Recordings:
    """Recordings from a captured row's tool_calls (JSON text or a list); garbage gives none."""
    calls = tool_calls
    if isinstance(tool_calls, str):
        try:
            calls = json.loads(tool_calls)
        except (ValueError, RecursionError):
            calls = []
    return Recordings(calls if isinstance(calls, list) else [], normalizer)
