"""The `openai` agent's tool loop: the model's tool calls are answered through the replay's
tool sandbox and sent back, until it gives a final answer, or `max_steps` completions or
`max_tool_calls` calls are used up (then the answer is the error `max_steps` / `max_tool_calls`).
Usage is summed over every step, so the price table prices the whole loop.

Multi-turn inputs are replayed as "the next turn": the conversation up to and including its last
user message (earlier assistant turns, tool calls and tool results kept), never the answer
production gave to it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from harness.errors import ToolCallError

__all__ = ["next_turn", "run_loop"]

Step = Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]
_USAGE = ("input_tokens", "output_tokens", "cached_input_tokens")


def next_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation up to its last user message (all of it when there is no user message)."""
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"), default=None)
    return list(messages) if last_user is None else list(messages[: last_user + 1])


async def run_loop(step: Step, messages: list[dict[str, Any]], tools: Any, max_steps: int,
                   max_tool_calls: int) -> dict[str, Any]:
    """Run the loop; returns the canonical result mapping (tool calls as the sandbox recorded them)."""
    conversation = list(messages)
    usage: dict[str, int | None] = dict.fromkeys(_USAGE)
    n_calls = 0
    answer: dict[str, Any] = {}
    for _ in range(max_steps):
        answer = await step(conversation)
        _add_usage(usage, answer.get("usage") or {})
        calls = answer.get("tool_calls") or []
        if not calls:
            return {**answer, "usage": usage}
        if n_calls + len(calls) > max_tool_calls:
            return _stopped(answer, usage, "max_tool_calls",
                            f"the model asked for more than {max_tool_calls} tool calls")
        n_calls += len(calls)
        conversation.append(_assistant(answer, calls))
        for i, call in enumerate(calls):
            conversation.append({"role": "tool", "tool_call_id": call.get("id") or f"call_{n_calls}_{i}",
                                 "content": await _answer(tools, call)})
    return _stopped(answer, usage, "max_steps", f"no final answer after {max_steps} steps")


async def _answer(tools: Any, call: dict[str, Any]) -> str:
    """The sandbox's answer to one call as the tool message's text; a refused call is an error text."""
    arguments = call.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass  # the model's own text: the sandbox stores it as given
    try:
        result = await tools.call(str(call.get("name") or ""), arguments)
    except ToolCallError as exc:
        return json.dumps({"error": str(exc)})
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)


def _assistant(answer: dict[str, Any], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The model's tool-calling message as it goes back into the conversation."""
    return {"role": "assistant", "content": answer.get("output"), "tool_calls": [
        {"id": c.get("id") or f"call_{i}", "type": "function",
         "function": {"name": c.get("name"), "arguments": c["arguments"] if isinstance(c.get("arguments"), str)
                      else json.dumps(c.get("arguments"))}}
        for i, c in enumerate(calls)]}  # fmt: skip


def _add_usage(total: dict[str, int | None], usage: dict[str, Any]) -> None:
    for key in _USAGE:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            total[key] = (total[key] or 0) + value


def _stopped(answer: dict[str, Any], usage: dict[str, int | None], kind: str, message: str) -> dict[str, Any]:
    return {"output": None, "usage": usage, "model": answer.get("model"), "error": {"type": kind, "message": message}}
