"""The tool endpoint's HTTP/1.1 server (harness.tools.http_server) over raw sockets: keep-alive,
pipelined requests answered in order, chunked and gzip bodies, and the requests it refuses."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from typing import Any

from harness.tools.http_server import Received, serve

MAX_BODY = 1000


async def _echo(request: Received) -> tuple[int, object]:
    """Answers with what it received; sleeps first when asked, so a later request would overtake it."""
    body = json.loads(request.body) if request.body else {}
    if body.get("sleep"):  # the next request's answer is ready first, but must wait for this one
        await asyncio.sleep(body["sleep"])
    if body.get("raise"):
        raise RuntimeError("handler bug")
    return 201, {"method": request.method, "path": request.path, "query": request.query, "body": body,
                 "key": request.headers.get("x-key")}


async def _exchange(raw: bytes, n_answers: int) -> list[tuple[int, dict[str, str], Any]]:
    """Send `raw` on one connection and read `n_answers` answers (status, headers, JSON body)."""
    async with serve(_echo, "127.0.0.1", 0, max_body=MAX_BODY, max_head=2000) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        answers = []
        for _ in range(n_answers):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
            body = await reader.readexactly(int(headers["content-length"]))
            answers.append((int(head[0].split()[1]), headers, json.loads(body)))
        writer.close()
        return answers


def _post(path: str, body: bytes, *extra: str) -> bytes:
    headers = "".join(f"{h}\r\n" for h in extra)
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


def test_pipelined_requests_are_answered_in_order_on_one_connection() -> None:
    raw = (_post("/tools/a%20b?request_key=k1", b'{"sleep": 0.05, "n": 1}', "X-Key: h1")
           + _post("/tools/second", b'{"n": 2}') + b"GET /tools/third HTTP/1.1\r\nHost: x\r\n\r\n")
    first, second, third = asyncio.run(_exchange(raw, 3))
    assert first[0] == 201 and first[2] == {"method": "POST", "path": "/tools/a b", "query": {"request_key": ["k1"]},
                                            "body": {"sleep": 0.05, "n": 1}, "key": "h1"}
    assert second[2]["body"] == {"n": 2} and third[2]["method"] == "GET"  # after the slow first one
    assert all(a[1]["content-type"].startswith("application/json") and "connection" not in a[1] for a in (first, second))


def test_chunked_and_compressed_bodies_arrive_whole() -> None:
    chunked = (b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4\r\n{\"n\"\r\n3\r\n: 7\r\n1\r\n}\r\n0\r\n\r\n")
    zipped = _post("/g", gzip.compress(b'{"n": 8}'), "Content-Encoding: gzip")
    deflated = _post("/d", zlib.compress(b'{"n": 9}'), "Content-Encoding: deflate")
    answers = asyncio.run(_exchange(chunked + zipped + deflated, 3))
    assert [a[2]["body"] for a in answers] == [{"n": 7}, {"n": 8}, {"n": 9}]


def test_refused_requests_say_why_and_close_the_connection() -> None:
    cases = {
        "declared too large": (_post("/x", b"x" * (MAX_BODY + 1)), 413, "larger than 1000 bytes"),
        "chunked too large": (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + b"%x\r\n" % 600 + b"x" * 600 + b"\r\n" + b"%x\r\n" % 600 + b"x" * 600
                              + b"\r\n0\r\n\r\n", 413, "larger than"),
        "gzip bomb": (_post("/x", gzip.compress(b" " * 100_000), "Content-Encoding: gzip"), 413, "larger than"),
        "not gzip": (_post("/x", b"plain", "Content-Encoding: gzip"), 400, "not valid gzip"),
        "brotli": (_post("/x", b"{}", "Content-Encoding: br"), 415, "'br' is not served"),
        "garbage": (b"\x00\x01 nonsense\r\n\r\n", 400, "not an HTTP/1.1 request"),
        "huge head": (b"POST /x HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"p" * 3000 + b"\r\n\r\n", 431, "too large"),
        "handler bug": (_post("/x", b'{"raise": true}'), 500, "RuntimeError: handler bug"),
    }
    for name, (raw, status, reason) in cases.items():
        [(got, headers, body)] = asyncio.run(_exchange(raw + _post("/never", b"{}"), 1))
        assert (got, reason in body["error"]) == (status, True), (name, got, body)
        if status != 500:
            assert headers.get("connection") == "close", name


def test_a_request_left_unanswered_at_shutdown_is_cancelled_not_awaited() -> None:
    async def go() -> bool:
        started = asyncio.Event()

        async def slow(request: Received) -> tuple[int, object]:
            started.set()
            await asyncio.sleep(30)
            return 200, {}

        async with serve(slow, "127.0.0.1", 0, max_body=MAX_BODY) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_post("/slow", b"{}"))
            await asyncio.wait_for(started.wait(), timeout=30)  # the handler is running when the server stops
        closed = await asyncio.wait_for(reader.read(), timeout=5)  # the server dropped the connection
        writer.close()
        return closed == b""

    assert asyncio.run(go())
