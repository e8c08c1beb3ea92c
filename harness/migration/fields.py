"""Field-level differences between a v1 state and its migrated v2 form.

A field is a path: `$.preferences.language`, with `[]` standing for every element of a list
(`$.history[].role`). Per path, the JSON types found there are compared: a field added,
dropped, whose type changed (e.g. string -> object), or that became null. Integers and
other numbers count as one type, `number`, so 1 -> 1.5 is not a type change. These are
statistics: only the first LIST_ELEMENTS elements of each list are looked at.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import defaultdict
from typing import Any

__all__ = ["LIST_ELEMENTS", "MAX_CHANGES", "child_path", "field_changes", "field_types", "first_difference",
           "json_type"]

MAX_CHANGES = 50
"""Changes kept per state: states whose objects are maps keyed by ids would otherwise list thousands."""
LIST_ELEMENTS = 256
"""Elements of one list whose fields are looked at: a 20,000-entry history costs what 256 do."""

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean",
          type(None): "null"}  # fmt: skip


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (integers and floats are both `number`)."""
    return _TYPES.get(type(value)) or ("object" if isinstance(value, dict) else "array" if isinstance(value, list)
                                       else "number" if isinstance(value, int | float) else "string")


@functools.lru_cache(maxsize=8192)
def _suffix(key: str) -> str:
    return f".{key}" if _PLAIN_KEY.fullmatch(key) else f'["{key}"]'


def child_path(path: str, key: str) -> str:
    return path + _suffix(key)


def field_types(value: Any) -> dict[str, set[str]]:
    """Every path in a JSON value with the types found at it (iterative: deep states are fine)."""
    types: dict[str, set[str]] = defaultdict(set)
    root = json_type(value)
    types["$"].add(root)
    stack: list[tuple[str, Any]] = [("$", value)] if root in ("object", "array") else []
    while stack:
        path, node = stack.pop()
        children = ((path + _suffix(str(k)), v) for k, v in node.items()) if isinstance(node, dict) else \
            ((path + "[]", v) for v in itertools.islice(node, LIST_ELEMENTS))
        for child, v in children:
            kind = json_type(v)
            types[child].add(kind)
            if kind == "object" or kind == "array":
                stack.append((child, v))
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
