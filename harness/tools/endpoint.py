"""The sandbox over HTTP, for agents that are not Python: `POST /tools/<name>` with the JSON
arguments as the body and the request key in the `X-Harness-Request-Key` header (or the
`request_key` query parameter). The answer is the tool's result as JSON; a refused call is a
4xx with `{"error": "..."}` (404 an unknown request key or path, 405 not a POST, 413 a body
over 16 MiB, 400 a body that is not JSON, 422 a call the sandbox refused). Served on 127.0.0.1 on
a free port for the length of a replay, by harness.tools.http_server.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator

from harness.errors import ToolCallError
from harness.tools.http_server import Received, serve
from harness.tools.sandbox import Sandbox

__all__ = ["serve_endpoint", "REQUEST_KEY_HEADER"]

REQUEST_KEY_HEADER = "X-Harness-Request-Key"
_KEY_HEADER = REQUEST_KEY_HEADER.lower()
_MAX_BODY = 16 * 1024 * 1024
_PREFIX = "/tools/"


@contextlib.asynccontextmanager
async def serve_endpoint(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve the sandbox's tools; yields the base URL (also set as `sandbox.tools_url`)."""
    async with serve(functools.partial(_handle, sandbox), host, port, max_body=_MAX_BODY) as bound:
        sandbox.tools_url = f"http://{host}:{bound}"
        try:
            yield sandbox.tools_url
        finally:
            sandbox.tools_url = None


async def _handle(sandbox: Sandbox, request: Received) -> tuple[int, object]:
    name = request.path[len(_PREFIX):] if request.path.startswith(_PREFIX) else ""
    if not name or "/" in name:
        return 404, {"error": f"no such endpoint: {request.path[:200]} (POST /tools/<name>)"}
    if request.method != "POST":
        return 405, {"error": "tool calls are POST requests"}
    session = sandbox.session(request.headers.get(_KEY_HEADER) or next(iter(request.query.get("request_key", [])), None))
    if session is None:
        return 404, {"error": "unknown or expired request key"}
    try:
        arguments = json.loads(request.body) if request.body.strip() else {}
    except (ValueError, RecursionError):
        return 400, {"error": "the body is not JSON (send the tool's arguments as JSON)"}
    try:
        return 200, await session.answer(name, arguments)
    except ToolCallError as exc:
        return 422, {"error": str(exc)}
