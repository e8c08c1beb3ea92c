"""A fault-injecting agent server for reliability tests.

Each request chooses its own fault in `metadata["fault"]` (and, for the faults that pass
after a while, how many attempts fail in `metadata["times"]`), so a test knows exactly
what every response must look like. The arms are told apart by the URL path
(`/agent/prod`, `/agent/candidate`, ...) and the server counts attempts and their arrival
times per (request_id, arm). `FAULTS` says, per fault, the final `error_type` and how many
attempts the replay makes; `expected()` gives the exact values for one request.

    with serve(server.app, shutdown_timeout=0.1) as base:
        config = parse_config({"replay": {...}, "agents": agents_config(base, ARMS)})
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = [
    "ARMS",
    "FAULTS",
    "WRONG_SHAPES",
    "Fault",
    "FaultServer",
    "agents_config",
    "answer_for",
    "expected",
    "fault_records",
]

ARMS = ("prod", "candidate")
"""The arms tests replay by default, each at its own path `/agent/<arm>`."""


@dataclass(frozen=True, slots=True)
class Fault:
    """What a fault makes of a replayed call: the final error type and the attempts made.

    `min_attempts` and `max_attempts` of None stand for the replay's `max_attempts`.
    """

    error_type: str | None
    min_attempts: int | None
    max_attempts: int | None

    def attempts(self, max_attempts: int) -> range:
        """The attempt counts this fault allows under a replay's `max_attempts`."""
        low = max_attempts if self.min_attempts is None else self.min_attempts
        high = max_attempts if self.max_attempts is None else self.max_attempts
        return range(low, high + 1)

    @property
    def fails_then_passes(self) -> bool:
        """True for the faults that fail `metadata["times"]` attempts, then answer."""
        return self.min_attempts != self.max_attempts


_ONCE = (1, 1)
_ALL = (None, None)
_UNTIL_OK = (2, None)  # fails `times` attempts (1 <= times < max_attempts), then succeeds

FAULTS: dict[str, Fault] = {
    "ok": Fault(None, *_ONCE),
    "timeout": Fault("timeout", *_ALL),
    "hang": Fault("timeout", *_ALL),
    "retry_after": Fault(None, *_UNTIL_OK),
    "rate_limited": Fault("rate_limited", *_ALL),
    "rate_limited_no_header": Fault("rate_limited", *_ALL),
    "status_500": Fault("http_error", *_ALL),
    "status_502": Fault("http_error", *_ALL),
    "status_503": Fault("http_error", *_ALL),
    "flaky": Fault(None, *_UNTIL_OK),
    "malformed_json": Fault("bad_response", *_ONCE),
    "truncated_json": Fault("bad_response", *_ONCE),
    "reset": Fault("connection_error", *_ALL),
    "huge": Fault("bad_response", *_ONCE),
    "invalid_utf8": Fault("bad_response", *_ONCE),
    "trickle": Fault("timeout", *_ALL),
    "wrong_shape": Fault("bad_response", *_ONCE),
    "says_cancelled": Fault("cancelled", *_ONCE),
    "lone_surrogate": Fault("bad_response", *_ONCE),
    "deep_arguments": Fault("bad_response", *_ONCE),
    "bad_numbers": Fault(None, *_ONCE),
}
"""Every fault the server knows, with what the replay must record for it. `says_cancelled` is
the agent's own error typed "cancelled" (an error, not the harness's cancellation); `bad_numbers`
answers well but reports a negative cost and 2^70 output tokens (numbers not believed)."""

WRONG_SHAPES: dict[str, Any] = {
    "number_output": {"output": 42},
    "string_tool_calls": {"output": "fine", "tool_calls": "lookup_order"},
    "scalar_document": 42,
}
"""The valid-JSON answers of `wrong_shape`, chosen by `metadata["shape"]` (default: the first)."""


def expected(metadata: dict[str, Any], max_attempts: int) -> tuple[str | None, int]:
    """The exact (error_type, attempts) the replay must record for a request with this metadata."""
    fault = FAULTS[metadata["fault"]]
    if fault.fails_then_passes:
        return fault.error_type, int(metadata.get("times", 1)) + 1
    return fault.error_type, fault.attempts(max_attempts)[0]


def answer_for(request_id: str, arm: str) -> dict[str, Any]:
    """The answer an arm gives a request when no fault gets in the way."""
    return {
        "output": f"answer to {request_id} from {arm}",
        "tool_calls": [{"name": "lookup_order", "arguments": {"id": request_id}}],
        "usage": {"input_tokens": 12, "output_tokens": 5},
        "model": "gpt-4.1",
    }


def fault_records(n: int, *, seed: int, max_attempts: int, faults: Iterable[str] = FAULTS) -> list[dict[str, Any]]:
    """`n` captured-log records with the faults spread evenly over them in a seeded random order.

    Faults that pass after a while fail 1 to max_attempts - 1 times; `wrong_shape` cycles
    through its shapes.
    """
    rng = random.Random(seed)
    names = list(faults)
    kinds = [names[i % len(names)] for i in range(n)]
    rng.shuffle(kinds)
    shapes = list(WRONG_SHAPES)
    records = []
    for i, kind in enumerate(kinds):
        metadata: dict[str, Any] = {"fault": kind}
        if FAULTS[kind].fails_then_passes:
            metadata["times"] = rng.randint(1, max_attempts - 1)
        if kind == "wrong_shape":
            metadata["shape"] = shapes[i % len(shapes)]
        records.append({"request_id": f"q{i:05d}", "input": f"question {i}", "metadata": metadata})
    return records


def agents_config(base_url: str, arms: Sequence[str] = ARMS, **options: Any) -> dict[str, dict[str, Any]]:
    """The `[agents]` section pointing each arm at its own path on the server."""
    return {arm: {"kind": "http", "url": f"{base_url}/agent/{arm}", **options} for arm in arms}


Handler = Callable[[web.Request, str, str, int, dict[str, Any]], Awaitable[web.StreamResponse]]


class FaultServer:
    """The agent endpoint; `app` serves `POST /agent/{arm}` and `arrivals` records every attempt.

    Timings: `slow_s` is how late `timeout` answers, `trickle_s` how long `trickle` takes to
    send its answer (both must exceed the client's timeout), `retry_after_s` the Retry-After
    of the 429s, `huge_bytes` the size of the `huge` answer.
    """

    def __init__(
        self,
        *,
        slow_s: float = 4.0,
        trickle_s: float = 4.0,
        retry_after_s: float = 0.2,
        huge_bytes: int = 20_000_000,
    ) -> None:
        self.slow_s = slow_s
        self.trickle_s = trickle_s
        self.retry_after_s = retry_after_s
        self.huge_bytes = huge_bytes
        self.arrivals: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
        """time.monotonic() of each attempt, per (request_id, arm)."""
        self.replied: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
        """time.monotonic() when each attempt's answer was ready to send (before it was sent)."""
        self._faults: dict[str, Handler] = {
            "ok": self._ok,
            "timeout": self._timeout,
            "hang": self._hang,
            "retry_after": self._retry_after,
            "rate_limited": self._rate_limited,
            "rate_limited_no_header": self._rate_limited_no_header,
            "status_500": self._status,
            "status_502": self._status,
            "status_503": self._status,
            "flaky": self._flaky,
            "malformed_json": self._malformed_json,
            "truncated_json": self._truncated_json,
            "reset": self._reset,
            "huge": self._huge,
            "invalid_utf8": self._invalid_utf8,
            "trickle": self._trickle,
            "wrong_shape": self._wrong_shape,
            "says_cancelled": self._says_cancelled,
            "lone_surrogate": self._lone_surrogate,
            "deep_arguments": self._deep_arguments,
            "bad_numbers": self._bad_numbers,
        }
        assert self._faults.keys() == FAULTS.keys()
        self.app = web.Application()
        self.app.router.add_post("/agent/{arm}", self._handle)

    def attempts(self, request_id: str, arm: str) -> int:
        """How many attempts the server saw for one request on one arm."""
        return len(self.arrivals.get((request_id, arm), ()))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        request_id, arm = body["request_id"], request.match_info["arm"]
        metadata = body.get("metadata") or {}
        arrivals = self.arrivals[(request_id, arm)]
        arrivals.append(time.monotonic())
        handler = self._faults.get(metadata.get("fault", "ok"))
        if handler is None:
            return web.json_response({"error": f"unknown fault {metadata.get('fault')!r}"}, status=400)
        response = await handler(request, request_id, arm, len(arrivals), metadata)
        self.replied[(request_id, arm)].append(time.monotonic())
        return response

    # ---- the faults: (request, request_id, arm, attempt number from 1, metadata) ----------

    async def _ok(self, _request: web.Request, request_id: str, arm: str, *_: Any) -> web.StreamResponse:
        return web.json_response(answer_for(request_id, arm))

    async def _timeout(self, request: web.Request, request_id: str, arm: str, *_: Any) -> web.StreamResponse:
        await asyncio.sleep(self.slow_s)
        return await self._ok(request, request_id, arm)

    async def _hang(self, *_: Any) -> web.StreamResponse:
        """Never answers: awaits a future nobody sets, until the server shuts down and cancels it."""
        return await asyncio.get_running_loop().create_future()

    async def _retry_after(
        self, request: web.Request, request_id: str, arm: str, attempt: int, metadata: dict[str, Any]
    ) -> web.StreamResponse:
        if attempt <= int(metadata.get("times", 1)):
            return self._too_many(retry_after=True)
        return await self._ok(request, request_id, arm)

    async def _rate_limited(self, *_: Any) -> web.StreamResponse:
        return self._too_many(retry_after=True)

    async def _rate_limited_no_header(self, *_: Any) -> web.StreamResponse:
        return self._too_many(retry_after=False)

    def _too_many(self, *, retry_after: bool) -> web.Response:
        headers = {"Retry-After": f"{self.retry_after_s:g}"} if retry_after else None
        return web.json_response({"error": "slow down"}, status=429, headers=headers)

    async def _status(
        self, _request: web.Request, _id: str, _arm: str, _attempt: int, metadata: dict[str, Any]
    ) -> web.StreamResponse:
        status = int(metadata["fault"].removeprefix("status_"))
        return web.json_response({"error": f"failing with {status} on purpose"}, status=status)

    async def _flaky(
        self, request: web.Request, request_id: str, arm: str, attempt: int, metadata: dict[str, Any]
    ) -> web.StreamResponse:
        if attempt <= int(metadata.get("times", 1)):
            return web.json_response({"error": "unavailable"}, status=503)
        return await self._ok(request, request_id, arm)

    async def _malformed_json(self, *_: Any) -> web.StreamResponse:
        return web.Response(body=b"{'output': 'single quotes are not JSON'}", content_type="application/json")

    async def _truncated_json(self, _request: web.Request, request_id: str, arm: str, *_: Any) -> web.StreamResponse:
        whole = json.dumps(answer_for(request_id, arm)).encode()
        return web.Response(body=whole[: len(whole) // 2], content_type="application/json")

    async def _invalid_utf8(self, *_: Any) -> web.StreamResponse:
        return web.Response(body=b'{"output": "caf\xe9 cr\xe8me"}', content_type="application/json")

    async def _wrong_shape(
        self, _request: web.Request, _id: str, _arm: str, _attempt: int, metadata: dict[str, Any]
    ) -> web.StreamResponse:
        return web.json_response(WRONG_SHAPES[metadata.get("shape", next(iter(WRONG_SHAPES)))])

    async def _says_cancelled(self, *_: Any) -> web.StreamResponse:
        return web.json_response({"error": {"type": "cancelled", "message": "the upstream model cancelled it"}})

    async def _lone_surrogate(self, *_: Any) -> web.StreamResponse:
        return web.Response(body=b'{"output": "half a pair \\ud800 here"}', content_type="application/json")

    async def _deep_arguments(self, *_: Any) -> web.StreamResponse:
        deep = b'{"a": ' * 5000 + b'"leaf"' + b"}" * 5000
        return web.Response(body=b'{"output": "x", "tool_calls": [{"name": "t", "arguments": ' + deep + b"}]}",
                            content_type="application/json")

    async def _bad_numbers(self, _request: web.Request, request_id: str, arm: str, *_: Any) -> web.StreamResponse:
        answer = answer_for(request_id, arm)
        answer["usage"]["output_tokens"] = 2**70
        return web.json_response({**answer, "cost_usd": -1000})

    async def _reset(self, request: web.Request, request_id: str, arm: str, *_: Any) -> web.StreamResponse:
        """Headers and half the body, then a TCP reset (SO_LINGER 0) instead of the rest."""
        whole = json.dumps(answer_for(request_id, arm)).encode()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(whole)
        await response.prepare(request)
        await response.write(whole[: len(whole) // 2])
        await asyncio.sleep(0.01)  # let the half reach the client first
        transport = request.transport
        assert transport is not None
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return response

    async def _huge(self, request: web.Request, *_: Any) -> web.StreamResponse:
        """A valid JSON answer of `huge_bytes`, streamed in chunks without a Content-Length."""
        chunk = b"x" * 65_536
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await response.write(b'{"output": "')
            for _ in range(self.huge_bytes // len(chunk)):
                await response.write(chunk)
            await response.write(b'"}')
            await response.write_eof()
        except ConnectionError:
            pass  # the client stopped reading at its limit, as it should
        return response

    async def _trickle(self, request: web.Request, request_id: str, arm: str, *_: Any) -> web.StreamResponse:
        """The ok answer with its Content-Length, a few bytes at a time over `trickle_s`."""
        whole = json.dumps(answer_for(request_id, arm)).encode()
        pieces = [whole[i : i + 4] for i in range(0, len(whole), 4)]
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(whole)
        await response.prepare(request)
        try:
            for piece in pieces:
                await response.write(piece)
                await asyncio.sleep(self.trickle_s / len(pieces))
            await response.write_eof()
        except ConnectionError:
            pass  # the client gave up at its timeout, as it should
        return response
