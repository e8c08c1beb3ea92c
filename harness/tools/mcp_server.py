"""The sandbox as an MCP server (the official `mcp` SDK, streamable HTTP) on 127.0.0.1, so
agents that speak MCP replay unchanged: `{mcp_url}` with the request key in the
`X-Harness-Request-Key` header or the `request_key` query parameter. `tools/list` gives the
request's tools (configured schemas, else inferred from its recordings); `tools/call` goes
through the request's sandbox session, a refused call being a tool result with isError set.
Started by the replay when `[tools.sandbox] mcp = true`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

from harness.errors import ToolCallError
from harness.tools.definitions import tool_definitions
from harness.tools.endpoint import REQUEST_KEY_HEADER
from harness.tools.sandbox import Sandbox
from harness.tools.session import ToolSession

__all__ = ["serve_mcp"]


@contextlib.asynccontextmanager
async def serve_mcp(sandbox: Sandbox, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve the sandbox over MCP on a free port; yields the endpoint URL (`sandbox.mcp_url`)."""
    import uvicorn
    from mcp.server.lowlevel import Server

    server: Any = Server("harness-tool-sandbox", on_list_tools=_lister(sandbox), on_call_tool=_caller(sandbox))
    app = server.streamable_http_app(host=host, json_response=True, stateless_http=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    try:
        while not uv.started:
            if task.done():
                task.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        sandbox.mcp_url = f"http://{host}:{sock.getsockname()[1]}/mcp"
        yield sandbox.mcp_url
    finally:
        sandbox.mcp_url = None
        uv.should_exit = True
        await task
        sock.close()


def _session(sandbox: Sandbox, ctx: Any) -> ToolSession | None:
    request = getattr(ctx, "request", None)
    if request is None:
        return None
    key = request.headers.get(REQUEST_KEY_HEADER) or request.query_params.get("request_key")
    return sandbox.session(key)


def _lister(sandbox: Sandbox) -> Any:
    async def list_tools(ctx: Any, _params: Any) -> Any:
        from mcp import types

        session = _session(sandbox, ctx)
        recordings = await sandbox.recordings_for(session.request_id) if session is not None else None
        return types.ListToolsResult(tools=[types.Tool(**d) for d in tool_definitions(sandbox.tools, recordings)])

    return list_tools


def _caller(sandbox: Sandbox) -> Any:
    async def call_tool(ctx: Any, params: Any) -> Any:
        from mcp import types

        session = _session(sandbox, ctx)
        if session is None:
            return _error(types, "unknown or expired request key (send it in X-Harness-Request-Key)")
        try:
            result = await session.answer(params.name, params.arguments)
        except ToolCallError as exc:
            return _error(types, str(exc))
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
        return types.CallToolResult(content=[types.TextContent(text=text)],
                                    structured_content=result if isinstance(result, dict) else None)

    return call_tool


def _error(types: Any, message: str) -> Any:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)
