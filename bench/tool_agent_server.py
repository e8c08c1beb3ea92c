"""An HTTP agent server for the sandbox benchmark: each request makes 3 tool calls through the
harness's tool endpoint (the URL and request key come in the body), then answers after a fixed
latency in total. Runs in its own process, so its CPU is not counted as the harness's.

Raw asyncio, server and client (keep-alive connections to the tool endpoint, kept in a pool), as
bench/agent_server.py is: on 2 cores this process shares the machine with the harness, and an
agent framework's own CPU is not what the benchmark measures.
Usage: python bench/tool_agent_server.py PORT LATENCY_SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

TOOLS = ("lookup_order", "check_stock", "issue_refund")
BODY = json.dumps({"output": "Your refund is on its way.", "usage": {"input_tokens": 900, "output_tokens": 60}}).encode()
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_pool: dict[tuple[str, int], list[Connection]] = {}


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def _post(url: str, key: str, payload: bytes) -> bytes:
    """POST `payload` to the tool endpoint over a pooled keep-alive connection; the answer's body."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    idle = _pool.setdefault(address, [])
    reader, writer = idle.pop() if idle else await asyncio.open_connection(*address)
    writer.write(b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nX-Harness-Request-Key: %s\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (parts.path.encode(), address[0].encode(), address[1], key.encode(),
                                                    len(payload), payload))
    head = await reader.readuntil(b"\r\n\r\n")
    body = await reader.readexactly(_content_length(head))
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    idle.append((reader, writer))
    return body


async def _answer(transport: asyncio.Transport, request: bytes, latency: float) -> None:
    started = time.perf_counter()
    try:
        body = json.loads(request)
        payload = json.dumps({"order_id": body["order"]}).encode()
        for name in TOOLS:
            await _post(f"{body['tools']}/tools/{name}", body["key"], payload)
        answer = RESPONSE
    except Exception as exc:  # noqa: BLE001 - the harness sees an error, not a hang
        error = json.dumps({"error": repr(exc)}).encode()
        answer = b"HTTP/1.1 500 Error\r\nContent-Length: %d\r\n\r\n%s" % (len(error), error)
    await asyncio.sleep(max(0.0, latency - (time.perf_counter() - started)))
    if not transport.is_closing():
        transport.write(answer)


class AgentProtocol(asyncio.Protocol):
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""
        self.answering: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = _content_length(self.buffer[:end])
            if len(self.buffer) < end + 4 + length:
                return
            request, self.buffer = self.buffer[end + 4:end + 4 + length], self.buffer[end + 4 + length:]
            # Answers go out in the order of the requests on this connection (HTTP/1.1 pipelining).
            self.answering = asyncio.ensure_future(self._after(self.answering, request))

    async def _after(self, previous: asyncio.Task[None] | None, request: bytes) -> None:
        if previous is not None:
            await previous
        await _answer(self.transport, request, self.latency)


async def main(port: int, latency: float) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: AgentProtocol(latency), "127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
