"""An HTTP agent server for the sandbox benchmark: each request makes 3 tool calls through the
harness's tool endpoint (the URL and request key come in the body), then answers after a fixed
latency in total. Runs in its own process, so its CPU is not counted as the harness's.
Usage: python bench/tool_agent_server.py PORT LATENCY_SECONDS
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
from aiohttp import web

TOOLS = ("lookup_order", "check_stock", "issue_refund")


async def answer(request: web.Request) -> web.Response:
    started = time.perf_counter()
    body = await request.json()
    http: aiohttp.ClientSession = request.app["http"]
    headers = {"X-Harness-Request-Key": body["key"]}
    for name in TOOLS:
        async with http.post(f"{body['tools']}/tools/{name}", json={"order_id": body["order"]}, headers=headers) as r:
            await r.read()
    await asyncio.sleep(max(0.0, request.app["latency"] - (time.perf_counter() - started)))
    return web.json_response({"output": "Your refund is on its way.", "usage": {"input_tokens": 900,
                                                                               "output_tokens": 60}})


async def main(port: int, latency: float) -> None:
    app = web.Application()
    app["latency"] = latency
    app["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    app.router.add_post("/answer", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
