"""One call's view of the sandbox: `await tools.call(name, arguments)` for one request, arm,
sample and attempt. Each call is matched, answered by its policy and recorded as a ToolEvent.

What a call gets: `replay` serves the matched recording's result (a miss goes to the miss
policy); `block` executes nothing and answers the stub (or the recording's result); `live`
forwards the arguments to the tool's endpoint; `emulate` asks the emulator model for a plausible
result (nothing executed); `error` raises ToolCallError. The calls made
(blocked writes included) are the agent's actions: `calls` is what the response stores.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from harness.errors import ToolCallError
from harness.records import ToolCall, ToolEvent
from harness.secrets import scrub

if TYPE_CHECKING:
    from harness.tools.recordings import Recording
    from harness.tools.sandbox import Sandbox

__all__ = ["ToolSession", "capped_json"]


class ToolSession:
    """The tools of one attempt at one request: routes calls through its sandbox."""

    def __init__(self, sandbox: Sandbox, request_id: str, arm: str, sample: int, attempt: int, key: str,
                 messages: list[dict[str, Any]] | None = None) -> None:
        self.sandbox = sandbox
        self.request_id = request_id
        self.arm = arm
        self.sample = sample
        self.attempt = attempt
        self.key = key
        """The request key that routes HTTP and MCP calls to this session."""
        self.messages = messages or []
        """The request's conversation (what the emulator sees)."""
        self.calls: list[ToolCall] = []
        self._counts: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def call(self, name: str, arguments: Any = None) -> Any:
        """The tool's answer under its policy, the agent's own copy; raises ToolCallError for a refused call."""
        return json_copy(await self.answer(name, arguments))

    async def answer(self, name: str, arguments: Any = None) -> Any:
        """`call` for callers that only serialize the answer (the HTTP and MCP servers): a served
        recording is not copied, so it must not be changed."""
        self._loop = asyncio.get_running_loop()
        started = time.perf_counter()
        if not isinstance(name, str) or not name:
            raise ToolCallError("a tool call needs a tool name")
        policy = self.sandbox.policies.for_tool(name)
        position = self._counts[name]
        self._counts[name] += 1
        recordings = await self.sandbox.recordings_for(self.request_id)
        match, recording = recordings.match(name, arguments, position)
        recorded = recording.result if recording is not None else None
        action = policy.policy
        if action == "replay" and match == "miss":
            action = policy.on_miss
        step = len(self.calls)
        self.calls.append(ToolCall(name, arguments))
        result: Any = None
        error: str | None = None
        try:
            if action == "replay":
                result = recorded
            elif action == "block":
                result = policy.stub(recorded)
            elif action == "live":
                result = await self.sandbox.live(policy, arguments)
            elif action == "emulate":
                result = await self.sandbox.emulate(policy, arguments, self)
            else:
                error = f"no recording of {name!r} for request {self.request_id!r} (on_miss = 'error')"
                raise ToolCallError(error)
        except ToolCallError as exc:
            error = str(exc)
            raise
        finally:
            self.calls[step] = ToolCall(name, arguments, result)
            served = recording if recording is not None and error is None and result is recorded else None
            self._record(step, name, policy.tool_class, action, match, arguments, result, error,
                         policy.config.allow_live_write if action == "live" else None, started, served)
        return result

    def call_sync(self, name: str, arguments: Any = None, timeout_s: float | None = None) -> Any:
        """`call` from a sync agent running in a worker thread (the replay's loop answers it)."""
        loop = self._loop or self.sandbox.loop
        if loop is None:
            raise ToolCallError("the sandbox is not running in an event loop")
        return asyncio.run_coroutine_threadsafe(self.call(name, arguments), loop).result(timeout_s)

    def _record(self, step: int, name: str, tool_class: str, action: str, match: str, arguments: Any,
                result: Any, error: str | None, live_allowed: bool | None, started: float,
                served: Recording | None) -> None:
        """A ToolEvent; a served recording's result is serialized once per recording, not per call."""
        limit = self.sandbox.settings.max_result_chars
        args_text, args_digest = capped_json(arguments, limit)
        if served is not None:
            result_text, result_digest = served.stored_result(lambda value: capped_json(value, limit))
        else:
            result_text, result_digest = capped_json(result, limit) if error is None else (None, None)
        self.sandbox.add_event(ToolEvent(
            self.sandbox.run_id, self.request_id, self.arm, self.sample, self.attempt, step, name, tool_class,
            action, match, args_text, args_digest or "", result_text, result_digest, action in ("block", "emulate"),
            live_allowed, scrub(error), (time.perf_counter() - started) * 1000, datetime.now(UTC)))


def capped_json(value: Any, limit: int) -> tuple[str | None, str | None]:
    """(JSON text or None when longer than `limit`, sha256 digest of the text); secrets scrubbed.

    Values that cannot be serialized (nested thousands deep, not JSON) are stored as a marker."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    except (RecursionError, ValueError, TypeError) as exc:
        text = json.dumps(f"[not storable as JSON: {type(exc).__name__}]")
    text = scrub(text.encode("utf-8", "replace").decode("utf-8")) or ""
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    return (text if len(text) <= limit else None), digest


def json_copy(value: Any) -> Any:
    """A copy of a JSON value (dicts, lists and scalars), so an agent that changes a served result
    cannot change the recording; several times cheaper than copy.deepcopy for these types."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value
