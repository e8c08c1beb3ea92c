"""A diff of two answers' tool calls, for the regression cards: added, removed and changed calls.

Calls pair up by name in order; a paired call whose arguments differ is "changed", listing the
arguments added, removed or given another value. Lines are plain text (the template escapes them).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["tool_diff"]

_VALUE_CHARS = 80


def tool_diff(prod_calls: str | None, candidate_calls: str | None) -> list[str] | None:
    """Lines describing how the candidate's calls differ from prod's; [] when they agree, None when
    either side cannot be read (cut for length, not JSON)."""
    prod, cand = _calls(prod_calls), _calls(candidate_calls)
    if prod is None or cand is None:
        return None
    lines: list[str] = []
    remaining = list(cand)
    for call in prod:
        twin = next((c for c in remaining if c["name"] == call["name"] and c["arguments"] == call["arguments"]), None)
        twin = twin or next((c for c in remaining if c["name"] == call["name"]), None)
        if twin is None:
            lines.append(f"− removed {_call(call)}")
            continue
        remaining.remove(twin)
        if twin["arguments"] != call["arguments"]:
            lines.append(f"~ changed {call['name']}: {_arguments_diff(call['arguments'], twin['arguments'])}")
    lines += [f"+ added {_call(c)}" for c in remaining]
    return lines


def _calls(text: str | None) -> list[dict[str, Any]] | None:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    calls = []
    for item in value:
        if not isinstance(item, dict):
            return None
        arguments = item.get("arguments")
        calls.append({"name": str(item.get("name")), "arguments": arguments if isinstance(arguments, dict) else {}})
    return calls


def _call(call: dict[str, Any]) -> str:
    return f"{call['name']}(" + ", ".join(f"{k}={_value(v)}" for k, v in call["arguments"].items()) + ")"


def _arguments_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = [f"{k} {_value(old[k])} → {_value(new[k])}" for k in old if k in new and old[k] != new[k]]
    parts += [f"-{k}={_value(old[k])}" for k in old if k not in new]
    parts += [f"+{k}={_value(new[k])}" for k in new if k not in old]
    return ", ".join(parts)


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"
