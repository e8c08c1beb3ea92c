"""The demo shop's payments service: a real local HTTP server that issues (and counts) refunds.

`POST /refunds` with `{"order_id", "amount", "reason"}` issues a refund; `GET /stats` says how
many it has issued. The demo configures it as the `issue_refund` tool's live endpoint but
keeps that tool blocked, so after a replay it has received nothing while the store holds every
refund the agents intended. It runs in a thread with its own event loop, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

__all__ = ["PaymentsService"]


class PaymentsService:
    """`with PaymentsService() as payments:` serves on a free port; `payments.refunds` counts."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.refunds = 0
        """Refund requests received (every POST /refunds, valid or not)."""
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-payments", daemon=True)
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    def __enter__(self) -> PaymentsService:
        app = web.Application()
        app.router.add_post("/refunds", self._refund)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((self.host, 0))
        self.url = f"http://{self.host}:{self._sock.getsockname()[1]}"
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        if self._sock is not None:
            self._sock.close()

    async def _start(self) -> None:
        assert self._runner is not None and self._sock is not None
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _refund(self, request: web.Request) -> web.Response:
        self.refunds += 1
        try:
            body: Any = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        order = body.get("order_id") if isinstance(body, dict) else None
        return web.json_response({"refund_id": f"rf-live-{self.refunds:06d}", "status": "approved", "order_id": order})

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"refunds": self.refunds})
