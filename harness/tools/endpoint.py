"""The sandbox over HTTP, for agents that are not Python: `POST /tools/<name>` with the JSON
arguments as the body and the request key in the `X-Harness-Request-Key` header (or the
`request_key` query parameter). The answer is the tool's result as JSON; a refused call is a
4xx with `{"error": "..."}` (404 an unknown request key or path, 405 not a POST, 413 a body
over 16 MiB, 400 a body that is not JSON, 422 a call the sandbox refused). Served on 127.0.0.1 on
a free port for the length of a replay.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import AsyncIterator

from aiohttp import web

from harness.agents._http import read_capped
from harness.errors import ToolCallError
from harness.tools.sandbox import Sandbox

__all__ = ["serve_endpoint", "REQUEST_KEY_HEADER"]

REQUEST_KEY_HEADER = "X-Harness-Request-Key"
_MAX_BODY = 16 * 1024 * 1024
_PREFIX = "/tools/"


@contextlib.asynccontextmanager
async def serve_endpoint(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve the sandbox's tools; yields the base URL (also set as `sandbox.tools_url`).

    aiohttp's low-level server: one handler and no router or middleware, because every tool call
    of every agent passes through here and their per-request cost adds up over a replay."""
    runner = web.ServerRunner(web.Server(functools.partial(_handle, sandbox)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    sandbox.tools_url = f"http://{host}:{bound}"
    try:
        yield sandbox.tools_url
    finally:
        sandbox.tools_url = None
        await runner.cleanup()


async def _handle(sandbox: Sandbox, request: web.BaseRequest) -> web.Response:
    name = request.path[len(_PREFIX):] if request.path.startswith(_PREFIX) else ""
    if not name or "/" in name:
        return _answer({"error": f"no such endpoint: {request.path[:200]} (POST /tools/<name>)"}, 404)
    if request.method != "POST":
        return _answer({"error": "tool calls are POST requests"}, 405)
    session = sandbox.session(request.headers.get(REQUEST_KEY_HEADER) or request.query.get("request_key"))
    if session is None:
        return _answer({"error": "unknown or expired request key"}, 404)
    length = request.content_length if not request.headers.get("Content-Encoding") else None
    body = await read_capped(request.content, length, _MAX_BODY)
    if body is None:
        return _answer({"error": f"the body is larger than {_MAX_BODY} bytes"}, 413)
    try:
        arguments = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        return _answer({"error": "the body is not JSON (send the tool's arguments as JSON)"}, 400)
    try:
        result = await session.answer(name, arguments)
    except ToolCallError as exc:
        return _answer({"error": str(exc)}, 422)
    return _answer(result, 200)


def _answer(value: object, status: int) -> web.Response:
    return web.Response(body=json.dumps(value, ensure_ascii=False, default=str).encode(), status=status,
                        content_type="application/json")
