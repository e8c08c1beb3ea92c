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
from harness.limits import MAX_COST_USD, MAX_LATENCY_MS, MAX_TOKENS

__all__ = ["ARMS", "Request", "ToolCall", "Usage", "AgentResult", "Response", "ToolEvent", "storable"]

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
        function = data.get("function")
        fn: Mapping[str, Any] = function if isinstance(function, Mapping) else data
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
    invalid: tuple[str, ...] = ()
    """Reported numbers that were not believed (negative, NaN, infinite, absurd, not a number),
    as `field=value (why)`: the field is left empty, counted and reported, never used."""

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def with_(self, **changes: Any) -> AgentResult:
        return replace(self, **changes)

    def validated(self) -> AgentResult:
        """This result with every reported number checked against the bounds in harness.limits;
        a value outside them is emptied and described in `invalid`."""
        problems = list(self.invalid)
        cost = _bounded(self.cost_usd, "cost_usd", MAX_COST_USD, problems)
        latency = _bounded(self.latency_ms, "latency_ms", MAX_LATENCY_MS, problems)
        usage = Usage(*(_bounded(getattr(self.usage, f), f"usage.{f}", MAX_TOKENS, problems, whole=True)
                        for f in ("input_tokens", "output_tokens", "cached_input_tokens")))
        if len(problems) == len(self.invalid) and usage == self.usage:
            return self
        return replace(self, cost_usd=cost, latency_ms=latency, usage=usage, invalid=tuple(problems))

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
        problems: list[str] = []
        return cls(
            output=output,
            tool_calls=tuple(ToolCall.from_mapping(c) for c in raw_calls),
            usage=Usage(
                input_tokens=_count(usage, problems, "input_tokens", "prompt_tokens"),
                output_tokens=_count(usage, problems, "output_tokens", "completion_tokens"),
                cached_input_tokens=_count(usage, problems, "cached_input_tokens"),
            ),
            cost_usd=_number(data.get("cost_usd"), "cost_usd", problems),
            model=str(model) if model is not None else None,
            error_type=error_type,
            error_message=error_message,
            invalid=tuple(problems),
        ).validated()


@dataclass(frozen=True, slots=True)
class Response:
    """One arm's answer to one request in one run, as the store keeps it (a `responses` row).

    `tool_calls` is JSON text; `invalid_values` is JSON text (field -> what was reported and why)
    or None; `harness_cancelled` marks a call the harness's own stop cancelled (not an answer)."""

    run_id: str
    request_id: str
    arm: str
    sample: int
    output: str | None
    tool_calls: str
    n_tool_calls: int
    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int | None
    cost_usd: float | None
    latency_ms: float | None
    model: str | None
    error_type: str | None
    error_message: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    harness_cancelled: bool = False
    invalid_values: str | None = None


@dataclass(frozen=True, slots=True)
class ToolEvent:
    """One tool call that went through the replay's sandbox (a `tool_events` row).

    `policy` is what was done (replay, block, live, emulate, error); `match` is exact, nearest or miss;
    `blocked` means not executed (block, emulate);
    `arguments` and `result` are JSON text, None when longer than the cap (the digest stays)."""

    run_id: str
    request_id: str
    arm: str
    sample: int
    attempt: int
    step: int
    tool: str
    tool_class: str
    policy: str
    match: str
    arguments: str | None
    arguments_digest: str
    result: str | None
    result_digest: str | None
    blocked: bool
    live_allowed: bool | None
    error: str | None
    latency_ms: float
    created_at: datetime


def storable(result: Any) -> AgentResult:
    """An answer as the store can hold it, or that request's bad_response saying why not.

    Tool calls given as plain mappings are converted; text must be valid Unicode (a lone
    surrogate cannot be stored) and tool calls must serialize (arguments nested thousands of
    levels deep cannot)."""
    if not isinstance(result, AgentResult):
        return AgentResult.from_mapping(result)
    try:
        calls = tuple(c if isinstance(c, ToolCall) else ToolCall.from_mapping(c) for c in result.tool_calls)
        text = json.dumps([c.to_dict() for c in calls], ensure_ascii=False, default=str)
        for name, value in (("output", result.output), ("tool_calls", text), ("model", result.model),
                            ("error_message", result.error_message), ("error_type", result.error_type)):
            if value is not None:
                if not isinstance(value, str):
                    raise AgentBadResponse(f"{name} must be text, got {type(value).__name__}")
                value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return _bad(f"{name} is not valid Unicode ({exc.reason} at character {exc.start})")
    except RecursionError:
        return _bad("tool-call arguments are nested too deep to store")
    except (AgentBadResponse, TypeError, ValueError) as exc:
        return _bad(str(exc))
    return result if calls == result.tool_calls else replace(result, tool_calls=calls)


def _bad(message: str) -> AgentResult:
    return AgentResult(error_type="bad_response", error_message=message)


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


def _count(usage: Mapping[str, Any], problems: list[str], *keys: str) -> int | None:
    for key in keys:
        if usage.get(key) is not None:
            return _bounded(_number(usage[key], f"usage.{key}", problems), f"usage.{key}", MAX_TOKENS, problems,
                            whole=True)
    return None


def _number(value: Any, name: str, problems: list[str]) -> float | None:
    """A reported number, or None (with the reason in `problems`) when it is not one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{name}={_shown(value)} (not a number)")
        return None
    return value


def _bounded(value: Any, name: str, bound: float, problems: list[str], *, whole: bool = False) -> Any:
    """`value` when it is a finite number in [0, bound] (and whole, for counts); else None and why."""
    if value is None:
        return None
    why = None
    if isinstance(value, bool) or not isinstance(value, int | float):
        why = "not a number"
    elif isinstance(value, float) and not math.isfinite(value):
        why = "not finite"
    elif value < 0:
        why = "negative"
    elif value > bound:
        why = f"above the bound of {bound:,.0f}"
    elif whole and value != int(value):
        why = "not a whole number"
    if why is not None:
        problems.append(f"{name}={_shown(value)} ({why})")
        return None
    return int(value) if whole else float(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
