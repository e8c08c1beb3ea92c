"""The sandbox over HTTP, for agents that are not Python: `POST /tools/<name>` with the JSON
arguments as the body and the request key in the `X-Harness-Request-Key` header (or the
`request_key` query parameter). The answer is the tool's result as JSON; a refused call is a
4xx with `{"error": "..."}` (404 an unknown request key, 400 a body that is not JSON, 422 a
call the sandbox refused). Served on 127.0.0.1 on a free port for the length of a replay.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from aiohttp import web

from harness.errors import ToolCallError
from harness.tools.sandbox import Sandbox

__all__ = ["serve_endpoint", "REQUEST_KEY_HEADER"]

REQUEST_KEY_HEADER = "X-Harness-Request-Key"
_MAX_BODY = 16 * 1024 * 1024
_SANDBOX = web.AppKey("sandbox", Sandbox)


@contextlib.asynccontextmanager
async def serve_endpoint(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve the sandbox's tools; yields the base URL (also set as `sandbox.tools_url`)."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[_SANDBOX] = sandbox
    app.router.add_post("/tools/{name}", _call)
    runner = web.AppRunner(app, access_log=None)
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


async def _call(request: web.Request) -> web.Response:
    sandbox: Sandbox = request.app[_SANDBOX]
    key = request.headers.get(REQUEST_KEY_HEADER) or request.query.get("request_key")
    session = sandbox.session(key)
    if session is None:
        return web.json_response({"error": "unknown or expired request key"}, status=404)
    body = await request.read()
    try:
        arguments = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        return web.json_response({"error": "the body is not JSON (send the tool's arguments as JSON)"}, status=400)
    try:
        result = await session.call(request.match_info["name"], arguments)
    except ToolCallError as exc:
        return web.json_response({"error": str(exc)}, status=422)
    return web.json_response(result, dumps=lambda v: json.dumps(v, ensure_ascii=False, default=str))
