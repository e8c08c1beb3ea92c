"""Real HTTP servers for tests: run an aiohttp application on loopback in a background thread.

The server has its own thread and event loop, so the code under test can use any loop
(or `asyncio.run`) and talks to it over a real socket, exactly as in production.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

__all__ = ["serve", "unused_port"]


@contextmanager
def serve(app: web.Application, *, host: str = "127.0.0.1", shutdown_timeout: float = 0.5) -> Iterator[str]:
    """Serve `app` on an ephemeral port and yield its base URL, e.g. `http://127.0.0.1:41234`.

    On exit, handlers still running (a deliberate hang, say) get `shutdown_timeout`
    seconds before they are cancelled, so a test never waits on its own fault.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-http-server", daemon=True)
    thread.start()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        port = sock.getsockname()[1]

        async def start() -> None:
            await runner.setup()
            await web.SockSite(runner, sock).start()

        asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
        try:
            yield f"http://{host}:{port}"
        finally:
            asyncio.run_coroutine_threadsafe(_stop(runner), loop).result(timeout=shutdown_timeout + 10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        sock.close()


async def _stop(runner: web.AppRunner) -> None:
    """Shut the server down, then cancel handlers whose client already left (aiohttp lets them run)."""
    await runner.cleanup()
    leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


def unused_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound then released), for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
