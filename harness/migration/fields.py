"""Field-level differences between a v1 state and its migrated v2 form.

A field is a path: `$.preferences.language`, with `[]` standing for every element of a list
(`$.history[].role`). Per path, the JSON types found there are compared: a field added,
dropped, whose type changed (e.g. string -> object), or that became null. Integers and
other numbers count as one type, `number`, so 1 -> 1.5 is not a type change.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_CHANGES", "child_path", "field_changes", "field_types", "first_difference", "json_type"]

MAX_CHANGES = 50
"""Changes kept per state: states whose objects are maps keyed by ids would otherwise list thousands."""

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _PLAIN_KEY.fullmatch(key) else f'{path}["{key}"]'


def field_types(value: Any) -> dict[str, set[str]]:
    """Every path in a JSON value with the types found at it (iterative: deep states are fine)."""
    types: dict[str, set[str]] = {}
    stack: list[tuple[str, Any]] = [("$", value)]
    while stack:
        path, node = stack.pop()
        types.setdefault(path, set()).add(json_type(node))
        if isinstance(node, dict):
            stack.extend((child_path(path, str(k)), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}[]", v) for v in node)
    return types


def _parent(path: str) -> str:
    if path.endswith("[]"):
        return path[:-2]
    cut = max(path.rfind("."), path.rfind('["'))
    return path[:cut] if cut > 0 else "$"


def field_changes(old: Any, new: Any, limit: int = MAX_CHANGES) -> list[tuple[str, str, str | None, str | None]]:
    """(path, change, from types, to types) for each field added, dropped, retyped or nulled; a field
    inside one added or dropped whole is not listed again. At most `limit`, by path."""
    before, after = field_types(old), field_types(new)
    changes: list[tuple[str, str, str | None, str | None]] = []
    added = after.keys() - before.keys()
    dropped = before.keys() - after.keys()
    for path in added:
        if _parent(path) not in added:
            changes.append((path, "added", None, _names(after[path])))
    for path in dropped:
        if _parent(path) not in dropped:
            changes.append((path, "dropped", _names(before[path]), None))
    for path in before.keys() & after.keys():
        was, now = before[path] - {"null"}, after[path] - {"null"}
        if was and not now:
            changes.append((path, "became_null", _names(was), "null"))
        elif was and now and was != now:
            changes.append((path, "type_changed", _names(was), _names(now)))
    changes.sort()
    return changes[:limit]


def _names(types: set[str]) -> str:
    return "|".join(sorted(types))


def first_difference(a: Any, b: Any) -> str | None:
    """The first path where two JSON values differ, or None when they are equal."""
    stack: list[tuple[str, Any, Any]] = [("$", a, b)]
    while stack:
        path, x, y = stack.pop()
        if json_type(x) != json_type(y):
            return path
        if isinstance(x, dict):
            if x.keys() != y.keys():
                key = min(x.keys() ^ y.keys())
                return child_path(path, str(key))
            stack.extend((child_path(path, str(k)), x[k], y[k]) for k in reversed(list(x)))
        elif isinstance(x, list):
            if len(x) != len(y):
                return f"{path} (length {len(x)} -> {len(y)})"
            stack.extend((f"{path}[{i}]", x[i], y[i]) for i in reversed(range(len(x))))
        elif x != y:
            return path
    return None
