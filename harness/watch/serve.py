"""`harness watch --serve HOST:PORT`: the current decision over HTTP for rollout controllers.

GET /analysis always answers 200 with the last look as JSON (an Argo Rollouts `web` metric reads
it with a successCondition such as `result.decision != "rollback"`); POST /analysis (a Flagger
webhook) answers 200 while the decision is continue or promote and 412 on pause or rollback,
which Flagger counts as a failed check. Loopback by default; nothing but the decision is served.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["AnalysisServer", "parse_address", "analysis"]


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (port 0: any free port); ValueError naming the problem."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:8080, got {text!r}")
    return host, int(port)


def analysis(latest: dict[str, Any] | None) -> dict[str, Any]:
    """The answer: decision, final, reason, counts and checks; `continue` before the first look."""
    if latest is None:
        return {"decision": "continue", "final": False, "reason": "no look yet", "look": 0, "checks": []}
    keys = ("watch", "look", "at", "decision", "final", "reason", "n_canary", "n_prod", "elapsed_h", "checks")
    return {k: latest.get(k) for k in keys}


class AnalysisServer:
    """A small threaded HTTP server answering /analysis from `latest()`."""

    def __init__(self, address: tuple[str, int], latest: Callable[[], dict[str, Any] | None]) -> None:
        handler = _handler(latest)
        self.httpd = ThreadingHTTPServer(address, handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="harness-watch-serve", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def __enter__(self) -> AnalysisServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(latest: Callable[[], dict[str, Any] | None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(strict=False)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(min(length, 1 << 20))  # Flagger's payload: read and ignored
            self._answer(strict=True)

        def _answer(self, strict: bool) -> None:
            if self.path.split("?")[0] != "/analysis":
                self._send(404, {"error": "not found: GET or POST /analysis"})
                return
            body = analysis(latest())
            self._send(412 if strict and body["decision"] in ("pause", "rollback") else 200, body)

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
