"""Python agents that answer in ways that once cost a whole run (issue 11): the replay must
record each as that request's outcome and go on. Behaviour by the request id's number."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from harness.records import AgentResult, Request


def _n(request: Request) -> int:
    return int("".join(ch for ch in request.request_id if ch.isdigit()) or 0)


def _ok(request: Request, **extra: Any) -> dict[str, Any]:
    return {"output": f"fine {request.request_id}", "usage": {"input_tokens": 10, "output_tokens": 5},
            "model": "gpt-4.1", **extra}


async def says_cancelled(request: Request) -> Any:
    """Fails one request in three with an error it types "cancelled" itself."""
    if _n(request) % 3 == 0:
        return {"error": {"type": "cancelled", "message": "the upstream model cancelled the request"}}
    return _ok(request)


async def hostile(request: Request) -> Any:
    """Garbage that once killed a worker, hung the pool or failed every write, by request number."""
    n = _n(request) % 6
    if n == 1:
        return _ok(request, usage={"input_tokens": 2**70, "output_tokens": 1e300})
    if n == 2:
        return {"output": "bad \ud800 surrogate", "model": "m"}
    if n == 3:
        deep: Any = "leaf"
        for _ in range(5000):
            deep = {"a": deep}
        return _ok(request, tool_calls=[{"name": "deep", "arguments": deep}])
    if n == 4:
        return AgentResult(output="plain dicts", tool_calls=({"name": "lookup", "arguments": {"id": 1}},))  # type: ignore[arg-type]
    if n == 5:
        return _ok(request, cost_usd=-1000.0)
    return _ok(request)


async def negative_cost(request: Request) -> Any:
    """Reports a cost of -1000 on even requests and 0.01 on odd ones, after a short wait."""
    await asyncio.sleep(float(os.environ.get("SAMPLE_AGENT_DELAY", "0.01")))
    return _ok(request, cost_usd=-1000.0 if _n(request) % 2 == 0 else 0.01)
