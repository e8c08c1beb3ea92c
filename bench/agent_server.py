"""A minimal HTTP/1.1 keep-alive agent server with a fixed latency, for the replay benchmark.

Raw asyncio so the server itself costs little CPU: the benchmark measures the harness.
Usage: python bench/agent_server.py PORT LATENCY_SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys

BODY = json.dumps({
    "output": "Your order shipped yesterday and should arrive on Friday.",
    "tool_calls": [{"name": "lookup_order", "arguments": {"id": "1234"}}],
    "usage": {"input_tokens": 900, "output_tokens": 60},
    "model": "gpt-4.1-mini",
}).encode()  # fmt: skip
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


class AgentProtocol(asyncio.Protocol):
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            asyncio.get_running_loop().call_later(self.latency, self.reply)

    def reply(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(RESPONSE)


async def main(port: int, latency: float) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: AgentProtocol(latency), "127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
