"""Tool definitions (name, description, JSON schema of the arguments) for agents that discover
their tools: from `[tools.policies.<name>]` when it gives them, else inferred from the recorded
calls (each argument's JSON type as recorded; nothing required, since a recording shows what
was sent, not what must be)."""

from __future__ import annotations

from typing import Any

from harness.config.tools import ToolsConfig
from harness.tools.recordings import Recordings

__all__ = ["tool_definitions", "infer_schema"]

_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
               (dict, "object"), (type(None), "null"))


def tool_definitions(tools: ToolsConfig, recordings: Recordings | None = None) -> list[dict[str, Any]]:
    """`{name, description, input_schema}` for every tool named in the config (not a glob) and
    every tool in the recordings, sorted by name."""
    seen = dict(recordings.by_tool) if recordings is not None else {}
    names = {n for n in tools.policies if not any(ch in n for ch in "*?[")} | set(seen)
    out = []
    for name in sorted(names):
        entry = tools.policies.get(name)
        schema = entry.parameters if entry is not None and entry.parameters else infer_schema(
            [r.arguments for r in seen.get(name, [])])
        description = (entry.description if entry is not None and entry.description
                       else f"{name} (schema inferred from the recorded calls)")
        out.append({"name": name, "description": description, "input_schema": schema})
    return out


def infer_schema(examples: list[Any]) -> dict[str, Any]:
    """An object schema whose properties are the argument names seen, typed by their values."""
    properties: dict[str, set[str]] = {}
    for example in examples:
        if isinstance(example, dict):
            for key, value in example.items():
                properties.setdefault(str(key), set()).add(_type(value))
    return {"type": "object", "properties": {
        key: {"type": sorted(kinds)[0]} if len(kinds) == 1 else {"type": sorted(kinds)}
        for key, kinds in sorted(properties.items())}}  # fmt: skip


def _type(value: Any) -> str:
    return next(name for kind, name in _JSON_TYPES if isinstance(value, kind))
