"""A fast local python agent for the million-request replay: no I/O, a canonical answer."""

from __future__ import annotations

from harness.records import Request


async def answer(request: Request) -> dict:
    return {"output": f"ok {request.request_id}", "usage": {"input_tokens": 50, "output_tokens": 5},
            "model": "gpt-4.1-nano"}
