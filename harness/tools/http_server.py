"""A small HTTP/1.1 server for one handler: httptools parses (the C parser uvicorn uses), an asyncio
protocol keeps connections alive and answers pipelined requests in order.

Why not aiohttp's server: every tool call of every agent in a replay passes through here, on the
replay's one event loop, and a replay of tool-using agents at 64 in flight was bound by that loop;
aiohttp's request and response machinery was half of the endpoint's CPU per call (sampled). With
this server the `tool_replay` benchmark's harness CPU went from 26-27 s to 19-22 s.

The handler gets a `Received` request whose body is whole (at most `max_body` bytes, gzip or
deflate decoded) and returns the status and the JSON-ready answer. Too large a body is refused
with 413 before it is read, headers over `max_head` with 431, an unparsable request with 400 (and
the connection is closed after those).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, unquote

import httptools

__all__ = ["Handler", "Received", "serve"]


@dataclass
class Received:
    """One request: method, path (percent-decoded), query parameters, headers (lower-case names), whole body."""

    method: str = ""
    path: str = ""
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    refused: tuple[int, str] | None = None
    """Set when the request is answered without the handler: status and reason."""
    keep_alive: bool = True


Handler = Callable[[Received], Awaitable[tuple[int, object]]]
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


@contextlib.asynccontextmanager
async def serve(handler: Handler, host: str, port: int, *, max_body: int, max_head: int = 64 * 1024
                ) -> AsyncIterator[int]:
    """Serve `handler` on host:port (0: a free port) until the block ends; yields the bound port.
    At the end, open connections are closed and unfinished answers cancelled."""
    open_: set[_Connection] = set()
    server = await asyncio.get_running_loop().create_server(
        lambda: _Connection(handler, max_body, max_head, open_), host, port)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for connection in list(open_):
            connection.abort()
        await server.wait_closed()


class _Connection(asyncio.Protocol):
    """One client connection: parses its requests and writes the answers in request order."""

    def __init__(self, handler: Handler, max_body: int, max_head: int, open_: set[_Connection]) -> None:
        self._handler, self._max_body, self._max_head, self._open = handler, max_body, max_head, open_
        self._parser = httptools.HttpRequestParser(self)
        self._request = Received()
        self._url = b""
        self._chunks: list[bytes] = []
        self._size = 0
        self._head = 0  # bytes of the current request's head so far
        self._in_head = True
        self._waiting: deque[Received] = deque()
        self._answering: asyncio.Task[None] | None = None
        self._transport: asyncio.Transport | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._open.discard(self)
        if self._answering is not None:
            self._answering.cancel()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head += len(data)
            if self._head > self._max_head:
                return self._refuse_now(431, "the request's headers are too large")
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse_now(400, "protocol upgrades are not served")
        except httptools.HttpParserError as exc:
            self._refuse_now(400, f"not an HTTP/1.1 request ({exc})")

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._request, self._url, self._chunks, self._size, self._in_head = Received(), b"", [], 0, True

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._request.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        request = self._request
        self._in_head, self._head = False, 0
        request.method = self._parser.get_method().decode("latin-1")
        url = httptools.parse_url(self._url)
        request.path = unquote(url.path.decode("latin-1")) if url.path else "/"
        request.query = parse_qs(url.query.decode("latin-1")) if url.query else {}
        request.keep_alive = self._parser.should_keep_alive()
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self._max_body:
            request.refused = (413, f"the body is larger than {self._max_body} bytes")
        elif (encoding := request.headers.get("content-encoding", "identity").lower()) not in (*_DECODERS, "identity"):
            request.refused = (415, f"content encoding {encoding!r} is not served (gzip, deflate)")

    def on_body(self, body: bytes) -> None:
        if self._request.refused is None:
            self._size += len(body)
            if self._size > self._max_body:
                self._request.refused, self._chunks = (413, f"the body is larger than {self._max_body} bytes"), []
            else:
                self._chunks.append(body)

    def on_message_complete(self) -> None:
        request = self._request
        if request.refused is None:
            request.body = self._decoded(b"".join(self._chunks), request)
        self._chunks = []
        self._waiting.append(request)
        if self._answering is None:
            self._answering = asyncio.ensure_future(self._answer_waiting())

    def _decoded(self, body: bytes, request: Received) -> bytes:
        """The body as sent, gzip or deflate undone (at most max_body bytes of it)."""
        wbits = _DECODERS.get(request.headers.get("content-encoding", "identity").lower())
        if wbits is None:
            return body
        try:
            decoder = zlib.decompressobj(wbits)
            plain = decoder.decompress(body, self._max_body + 1)
        except zlib.error:
            request.refused = (400, "the body is not valid gzip or deflate data")
            return b""
        if len(plain) > self._max_body:
            request.refused = (413, f"the body is larger than {self._max_body} bytes")
        return plain

    async def _answer_waiting(self) -> None:
        """Answer the parsed requests, one after the other, in the order they came."""
        try:
            while self._waiting and self._transport is not None:
                request = self._waiting.popleft()
                value: object
                if request.refused is not None:
                    status, value = request.refused[0], {"error": request.refused[1]}
                    request.keep_alive = False  # a refused body may not have been read whole
                else:
                    try:
                        status, value = await self._handler(request)
                    except Exception as exc:  # noqa: BLE001 - a bug, not the client's fault: say so rather than hang it
                        status, value = 500, {"error": f"{type(exc).__name__}: {exc}"[:500]}
                self._write(status, value, request.keep_alive)
        finally:
            self._answering = None

    def _write(self, status: int, value: object, keep_alive: bool) -> None:
        if self._transport is None:
            return
        body = json.dumps(value, ensure_ascii=False, default=str).encode()
        reason = HTTPStatus(status).phrase.encode() if status in HTTPStatus._value2member_map_ else b"Status"
        self._transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                              b"Content-Length: %d\r\n%s\r\n%s" % (status, reason, len(body),
                                                                  b"" if keep_alive else b"Connection: close\r\n", body))
        if not keep_alive:
            self._transport.close()

    def _refuse_now(self, status: int, reason: str) -> None:
        """Answer a request that cannot be parsed on, and close the connection."""
        self._waiting.clear()
        if self._answering is not None:
            self._answering.cancel()
        self._write(status, {"error": reason}, keep_alive=False)
