"""The replay's side of the tool sandbox: open it for a run, give each attempt its tools, and
make the calls an agent made through it the response's tool calls (its actions).

The sandbox is on by default (`tools.sandbox.enabled`): agents that call no tools are not
touched, and a tool-using agent never runs a write tool unless it is explicitly `live`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from harness.agents import Agent, CallContext
from harness.records import AgentResult, Response, storable
from harness.replay.plan import Call, RunPlan
from harness.store import Store
from harness.tools import Sandbox, ToolSession, store_recordings

__all__ = ["open_sandbox", "call_with_sandbox", "write_with_events"]


@contextlib.asynccontextmanager
async def open_sandbox(plan: RunPlan, store: Store, agents: Iterable[Agent]) -> AsyncIterator[Sandbox | None]:
    """The run's sandbox, with its HTTP endpoint when one of the `agents` may be told it (and the
    MCP server, when asked) on 127.0.0.1 (free ports), closed at the end; None when
    `tools.sandbox.enabled` is false. An endpoint no agent can learn of is not started: it would
    only cost the start-up of an HTTP server."""
    tools = plan.config.tools
    if not tools.sandbox.enabled:
        yield None
        return
    sandbox = Sandbox(tools, store_recordings(store, plan.dataset, tools.sandbox.recordings), run_id=plan.run_id)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if any(agent.uses_tool_endpoint for agent in agents):
                from harness.tools.endpoint import serve_endpoint

                await stack.enter_async_context(serve_endpoint(sandbox))
            if tools.sandbox.mcp:
                from harness.tools.mcp_server import serve_mcp

                await stack.enter_async_context(serve_mcp(sandbox))
            yield sandbox
    finally:
        await sandbox.aclose()


async def call_with_sandbox(sandbox: Sandbox, agent: Agent, call: Call, attempt: int) -> Any:
    """One attempt with its own tool session; the session's calls become the answer's tool calls."""
    session = sandbox.open(call.request.request_id, call.arm, call.sample, attempt, call.request.messages)
    context = CallContext(call.arm, call.sample, tools=session, tools_url=sandbox.tools_url, request_key=session.key,
                          mcp_url=sandbox.mcp_url)
    try:
        answer = await agent.call(call.request, context)
    finally:
        sandbox.release(session)
    return with_session_calls(answer, session)


def with_session_calls(answer: Any, session: ToolSession) -> Any:
    """When calls went through the sandbox, they are the agent's tool calls (blocked writes
    included: what it intended is what it did); the agent's own list is kept otherwise."""
    if not session.calls:
        return answer
    result: AgentResult = storable(answer)
    return result.with_(tool_calls=tuple(session.calls)) if result.ok else result


def write_with_events(store: Store, run_id: str, rows: Sequence[Response], sandbox: Sandbox | None) -> None:
    """Write responses with their pending tool events in one transaction, then forget the events."""
    if sandbox is None:
        store.write_responses(run_id, rows)
        return
    keys = [(r.request_id, r.arm, r.sample) for r in rows]
    store.write_responses(run_id, rows, sandbox.events_for(keys))
    sandbox.forget(keys)
