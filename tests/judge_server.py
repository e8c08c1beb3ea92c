"""A deterministic OpenAI-compatible judge for end-to-end tests: the same prompt, the same verdict."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from aiohttp import web

__all__ = ["deterministic_judge_app"]


def _chat(content: str, model: str) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 400, "completion_tokens": 30, "total_tokens": 430}}


def deterministic_judge_app(seen_authorizations: list[str] | None = None) -> web.Application:
    """Pointwise scores and pairwise winners from a hash of the judged answers."""

    async def handle(request: web.Request) -> web.Response:
        if seen_authorizations is not None:
            seen_authorizations.append(request.headers.get("Authorization", ""))
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        digest = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
        if re.search(r"<<<ANSWER A", prompt):
            content = {"winner": ("A", "B", "tie")[digest % 3], "rationale": "compared"}
        else:
            content = {"score": 1 + digest % 10, "rationale": "scored"}
        return web.json_response(_chat(json.dumps(content), body.get("model", "judge")))

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    return app
