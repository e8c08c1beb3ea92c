"""Real python agents the replay tests run: behaviour is chosen by the request's metadata.

metadata.behaviour: "ok" (default), "fail" (raises), "garbage" (returns a non-result),
"sleep:<seconds>" (times $SAMPLE_AGENT_SLEEP_SCALE), "tools:<n>" (n tool calls). Every answer reports gpt-4.1 usage.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from typing import Any

from harness.records import Request


def _answer(request: Request, n_tools: int = 1) -> dict[str, Any]:
    return {
        "output": f"answer to {request.text}",
        "tool_calls": [{"name": "lookup", "arguments": {"i": i}} for i in range(n_tools)],
        "usage": {"input_tokens": 1000, "output_tokens": 100},
        "model": "gpt-4.1",
    }


async def agent(request: Request) -> Any:
    """An async agent whose behaviour the test picks through metadata."""
    behaviour = str(request.metadata.get("behaviour", "ok"))
    name, _, arg = behaviour.partition(":")
    delay = float(os.environ.get("SAMPLE_AGENT_DELAY", "0.002"))
    await asyncio.sleep(delay * random.uniform(0.5, 1.5))
    if name == "fail":
        raise RuntimeError("the agent fell over")
    if name == "garbage":
        return ["not", "a", "result"]
    if name == "sleep":
        await asyncio.sleep(float(arg) * float(os.environ.get("SAMPLE_AGENT_SLEEP_SCALE", "1")))
    if name == "tools":
        return _answer(request, int(arg))
    return _answer(request)


def sync_agent(request: Request) -> dict[str, Any]:
    """The same answers from a plain function (run in the thread pool)."""
    time.sleep(0.001)
    return _answer(request)


def deterministic(request: Request) -> dict[str, Any]:
    """Same input, same output: for resume-equals-uninterrupted checks."""
    time.sleep(float(os.environ.get("SAMPLE_AGENT_DELAY", "0.002")))
    return {"output": f"det:{request.request_id}:{request.text}", "usage": {"input_tokens": 10, "output_tokens": 5},
            "model": "gpt-4.1"}


async def broken(request: Request) -> Any:
    """A candidate that fails one request in four."""
    if int(request.request_id.lstrip("r")) % 4 == 0:
        raise RuntimeError("the candidate fell over")
    return await agent(request)


async def costly(request: Request) -> dict[str, Any]:
    """Reports its own cost, 0.001 to 0.005 USD by request, after a short wait (budget tests)."""
    await asyncio.sleep(float(os.environ.get("SAMPLE_AGENT_DELAY", "0.02")))
    index = int("".join(ch for ch in request.request_id if ch.isdigit()) or 0)
    return {"output": f"costly {request.request_id}", "cost_usd": 0.001 * (1 + index % 5), "model": "m"}


_TRIES: dict[str, int] = {}


async def retry_then_hang(request: Request) -> Any:
    """Pays its way on requests marked "pay"; on the others fails twice with a retryable
    connection error, then hangs (the third attempt is what a stop cancels)."""
    from harness.errors import AgentConnectionError

    if request.metadata.get("behaviour") == "pay":
        await asyncio.sleep(0.3)  # long enough for the others to reach their third attempt
        return {"output": "paid", "cost_usd": 0.01, "model": "m"}
    _TRIES[request.request_id] = _TRIES.get(request.request_id, 0) + 1
    if _TRIES[request.request_id] <= 2:
        raise AgentConnectionError("connection reset")
    await asyncio.sleep(3600)
    return {"output": "never"}


async def down(request: Request) -> Any:
    """A candidate that fails every call at once: its latency says nothing about it."""
    raise ConnectionError(f"nothing answers {request.request_id}")


async def loaded_libraries(request: Request) -> dict[str, Any]:
    """Answers with the heavy libraries this process had imported when the call came (start-up tests)."""
    return {"output": " ".join(m for m in ("polars", "pyarrow", "numpy", "scipy", "torch") if m in sys.modules) or "none"}
