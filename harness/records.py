"""The frozen records every stage shares: a Request in, an AgentResult out.

Agents may also answer with a plain mapping in the canonical captured shape;
`AgentResult.from_mapping` validates it so garbage becomes a recorded error, not a crash.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from harness.errors import AgentBadResponse

__all__ = ["ARMS", "Request", "ToolCall", "Usage", "AgentResult"]

#: Who answered. `captured` is what production returned in the log itself.
ARMS = ("prod", "prod_repeat", "candidate")


@dataclass(frozen=True, slots=True)
class Request:
    """One captured production request, as an agent sees it."""

    request_id: str
    input: str | dict[str, Any]
    user_id: str | None = None
    session_id: str | None = None
    timestamp: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reference: str | dict[str, Any] | None = None
    dataset: str | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The input in OpenAI chat form: a plain string becomes one user message."""
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}]
        return list(self.input.get("messages", []))

    @property
    def text(self) -> str:
        """The user's words: the input string, or the last user message's text."""
        if isinstance(self.input, str):
            return self.input
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _content_text(message.get("content"))
        return ""

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON shape (what `command` and `http` agents receive)."""
        return {
            "request_id": self.request_id,
            "input": self.input,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "metadata": self.metadata,
            "reference": self.reference,
        }


def _content_text(content: Any) -> str:
    """Text of a chat message content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call an agent made: name, arguments, and the result when known."""

    name: str
    arguments: Any = None
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        if self.result is not None:
            out["result"] = self.result
        return out

    @classmethod
    def from_mapping(cls, data: Any) -> ToolCall:
        """Accept the canonical `{name, arguments, result}` or OpenAI's `{function: {...}}`."""
        if not isinstance(data, Mapping):
            raise AgentBadResponse(f"a tool call must be an object, got {type(data).__name__}")
        fn = data.get("function") if isinstance(data.get("function"), Mapping) else data
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise AgentBadResponse("a tool call has no name")
        arguments = fn.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                pass  # keep the arguments as the text the agent gave
        return cls(name=name, arguments=arguments, result=data.get("result"))


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage; None means the agent did not say (never guessed)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class AgentResult:
    """One agent's answer to one request. Latency is set by the harness, not the agent."""

    output: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    cost_usd: float | None = None
    model: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    latency_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def with_(self, **changes: Any) -> AgentResult:
        return replace(self, **changes)

    @classmethod
    def from_mapping(cls, data: Any) -> AgentResult:
        """Validate a plain mapping in the canonical captured shape.

        Raises AgentBadResponse for anything that is not that shape, so an agent
        that returns garbage is recorded as an error for that request.
        """
        if isinstance(data, AgentResult):
            return data
        if not isinstance(data, Mapping):
            raise AgentBadResponse(f"expected an object, got {type(data).__name__}")
        output = data.get("output")
        if output is not None and not isinstance(output, str):
            raise AgentBadResponse(f"output must be a string, got {type(output).__name__}")
        raw_calls = data.get("tool_calls") or []
        if not isinstance(raw_calls, list | tuple):
            raise AgentBadResponse("tool_calls must be a list")
        usage = data.get("usage") or {}
        if not isinstance(usage, Mapping):
            raise AgentBadResponse("usage must be an object")
        error_type, error_message = _error_fields(data)
        model = data.get("model")
        return cls(
            output=output,
            tool_calls=tuple(ToolCall.from_mapping(c) for c in raw_calls),
            usage=Usage(
                input_tokens=_count(usage, "input_tokens", "prompt_tokens"),
                output_tokens=_count(usage, "output_tokens", "completion_tokens"),
                cached_input_tokens=_count(usage, "cached_input_tokens"),
            ),
            cost_usd=_number(data.get("cost_usd"), "cost_usd"),
            model=str(model) if model is not None else None,
            error_type=error_type,
            error_message=error_message,
        )


def _error_fields(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """`error` may be null, a message, or `{type, message}`; flat fields are accepted too."""
    error = data.get("error")
    if isinstance(error, Mapping):
        return str(error.get("type") or "agent_error"), _opt_str(error.get("message"))
    if error:
        return "agent_error", str(error)
    if data.get("error_type"):
        return str(data["error_type"]), _opt_str(data.get("error_message"))
    return None, None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _count(usage: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = usage.get(key)
        if value is not None:
            number = _number(value, f"usage.{key}")
            if number is None or number < 0 or number != int(number):
                raise AgentBadResponse(f"usage.{key} must be a whole number >= 0, got {value!r}")
            return int(number)
    return None


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AgentBadResponse(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise AgentBadResponse(f"{name} must be finite, got {value!r}")
    return float(value)
