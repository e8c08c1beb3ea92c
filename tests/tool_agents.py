"""Python agents that call their tools through the replay's sandbox (`context.tools`).

The request's metadata says which calls to make: `calls` is a list of [name, arguments]; the
agent answers with the results it was served, so a test sees what the sandbox gave it.
`<arm>_calls` (candidate_calls) replaces them for one arm."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from harness.agents import CallContext
from harness.errors import ToolCallError
from harness.records import Request


async def tool_user(request: Request, context: CallContext) -> dict[str, Any]:
    """Makes the request's calls in order; a refused call is answered as an error string."""
    served = []
    delay = float(os.environ.get("TOOL_AGENT_DELAY", "0"))
    for name, arguments in _calls(request, context):
        if delay:
            await asyncio.sleep(delay)
        try:
            served.append(await context.tools.call(name, arguments))
        except ToolCallError as exc:
            served.append(f"error: {exc}")
    return {"output": f"{request.request_id}: {served}", "usage": {"input_tokens": 10, "output_tokens": 5}}


def sync_tool_user(request: Request, context: CallContext) -> dict[str, Any]:
    """The same from a plain function in the agent's thread pool (`tools.call_sync`)."""
    served = [context.tools.call_sync(name, arguments, 10) for name, arguments in _calls(request, context)]
    return {"output": f"{request.request_id}: {served}"}


def _calls(request: Request, context: CallContext) -> list[Any]:
    return request.metadata.get(f"{context.arm}_calls", request.metadata.get("calls", []))


async def mcp_user(request: Request, context: CallContext) -> dict[str, Any]:
    """An MCP-speaking agent: discovers its tools and calls them at the sandbox's MCP endpoint."""
    from mcp import Client

    async with Client(f"{context.mcp_url}?request_key={context.request_key}") as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        served = [(await client.call_tool(name, arguments)).structured_content
                  for name, arguments in _calls(request, context)]
    return {"output": f"{names} {served}"}
