"""Argument normalization: when two tool calls count as the same action.

Documented rules (README, "Tools"): key order never matters; strings compare without
surrounding whitespace, with inner runs of whitespace as one space, and case-folded (unless
`case_sensitive`); a string that is a number compares as that number ("3" == 3 == 3.0);
lists keep their order unless the argument is declared `unordered`; `ignore`d arguments
(ids the agent invents, timestamps) are left out. An argument is named `name` (any tool, any
depth) or `tool.name` (one tool).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ArgumentNormalizer", "normalized_calls", "MAX_DEPTH"]

#: Deeper values are compared by a marker, never walked (a hostile agent nests 5,000 levels).
MAX_DEPTH = 64
_TOO_DEEP = "[nested deeper than 64 levels]"
_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class ArgumentNormalizer:
    ignore: frozenset[str] = frozenset()
    unordered: frozenset[str] = frozenset()
    case_sensitive: bool = False
    numbers_from_strings: bool = True

    @classmethod
    def from_lists(cls, ignore: Iterable[str] = (), unordered: Iterable[str] = (), *, case_sensitive: bool = False,
                   numbers_from_strings: bool = True) -> ArgumentNormalizer:
        return cls(frozenset(ignore), frozenset(unordered), case_sensitive, numbers_from_strings)

    def normalize(self, tool: str, arguments: Any) -> Any:
        """The arguments as a canonical Python value (dict keys sorted when serialized)."""
        return self._value(tool, None, arguments, 0)

    def key(self, tool: str, arguments: Any) -> str:
        """One string per distinct action: canonical JSON of the normalized arguments."""
        return json.dumps(self.normalize(tool, arguments), sort_keys=True, ensure_ascii=False, default=str)

    def _named(self, names: frozenset[str], tool: str, arg: str | None) -> bool:
        return arg is not None and (arg in names or f"{tool}.{arg}" in names)

    def _value(self, tool: str, arg: str | None, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            return _TOO_DEEP
        if isinstance(value, dict):
            return {str(k): self._value(tool, str(k), v, depth + 1) for k, v in value.items()
                    if not self._named(self.ignore, tool, str(k))}
        if isinstance(value, list | tuple):
            items = [self._value(tool, arg, v, depth + 1) for v in value]
            if self._named(self.unordered, tool, arg):
                items.sort(key=lambda v: json.dumps(v, sort_keys=True, default=str))
            return items
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            return _number(value)
        if isinstance(value, str):
            text = _SPACES.sub(" ", value.strip())
            if self.numbers_from_strings and _NUMBER.fullmatch(text):
                return _number(float(text)) if not text.lstrip("+-").isdigit() else int(text)
            return text if self.case_sensitive else text.casefold()
        return str(value)


def _number(value: int | float) -> int | float | str:
    """3.0 and 3 are one number; non-finite numbers keep a readable marker."""
    if isinstance(value, int):
        return value
    if not math.isfinite(value):
        return str(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def normalized_calls(tool_calls: str | list[Any] | None, normalizer: ArgumentNormalizer) -> list[tuple[str, str]]:
    """(name, normalized-arguments key) of each call in a stored tool-calls JSON text or list.

    Calls that are not objects with a string name are skipped (they are not actions anyone can
    compare); unparseable JSON gives no calls.
    """
    calls: Any = tool_calls
    if isinstance(tool_calls, str):
        try:
            calls = json.loads(tool_calls)
        except (ValueError, RecursionError):
            return []
    out = []
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            out.append((call["name"], normalizer.key(call["name"], call.get("arguments"))))
    return out
