"""The `openai` agent as a tool loop, replayed through the sandbox against a local
OpenAI-compatible server that asks for tools over several steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from harness.config import parse_config
from harness.ingest import ingest
from harness.replay import replay
from harness.store import Store
from tests.conftest import write_jsonl
from tests.servers import serve

TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
         for name in ("lookup_order", "issue_refund")]


def completion(message: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4.1-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **message}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}


def call(i: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def model_app(seen: list[list[dict[str, Any]]]) -> web.Application:
    """Step 1 looks the order up, step 2 refunds it, step 3 answers with what the tools said;
    an order "loop" never stops asking for tools."""

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        messages = body["messages"]
        seen.append(messages)
        user = [m for m in messages if m["role"] == "user"][-1]["content"]
        order = user.split()[-1]
        results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
        if order == "loop" or not results:
            return web.json_response(completion({"content": None,
                                                 "tool_calls": [call(len(results), "lookup_order", {"order_id": order})]}))
        if len(results) == 1:
            return web.json_response(completion({"content": None, "tool_calls": [
                call(1, "issue_refund", {"order_id": order, "amount": results[0]["total"]})]}))
        return web.json_response(completion({"content": f"refunded {results[0]['total']} as {results[1]['refund_id']}"}))

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def test_tool_loop_through_the_sandbox(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = [{"name": "lookup_order", "arguments": {"order_id": "7"}, "result": {"total": 49}},
                {"name": "issue_refund", "arguments": {"order_id": "7", "amount": 49}, "result": {"refund_id": "rf-7"}}]
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello, how can I help?"},
               {"role": "user", "content": "refund order 7"}, {"role": "assistant", "content": "refunded (captured)"}]
    rows = [{"request_id": "multi", "input": {"messages": history}, "captured": {"output": "x", "tool_calls": recorded}},
            {"request_id": "loop", "input": "please refund order loop"}]
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", rows)], "d", progress=False)
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test-loop-key-0001")
    seen: list[list[dict[str, Any]]] = []
    with serve(model_app(seen)) as url:
        agent = {"kind": "openai", "base_url": f"{url}/v1", "model": "gpt-4.1-mini", "api_key_env": "TEST_OPENAI_KEY",
                 "tools": TOOLS, "max_steps": 4}
        config = parse_config({"replay": {"dataset": "d", "prod_repeat_fraction": 0, "concurrency": 2},
                               "agents": {"prod": agent, "candidate": agent}, "tools": {"sandbox": {"on_miss": "block"}}})
        summary = replay(config, store=store, progress=False)
    rows_by = {(r["request_id"], r["arm"]): r for r in store.responses(summary.run_id).iter_rows(named=True)}
    done = rows_by[("multi", "candidate")]
    assert done["output"] == "refunded 49 as rf-7" and done["error_type"] is None
    assert [c["name"] for c in json.loads(done["tool_calls"])] == ["lookup_order", "issue_refund"]
    assert (done["input_tokens"], done["output_tokens"]) == (300, 30)  # three steps summed
    assert done["cost_usd"] == pytest.approx(3 * (100 * 0.4 + 10 * 1.6) / 1e6)
    first = next(m for m in seen if len(m) == 3)  # the next turn: history up to the last user message
    assert [m["content"] for m in first] == ["hi", "hello, how can I help?", "refund order 7"]
    stuck = rows_by[("loop", "prod")]
    assert stuck["error_type"] == "max_steps" and stuck["input_tokens"] == 400
    events = store.tool_events(summary.run_id).filter(store.tool_events(summary.run_id)["request_id"] == "multi")
    assert events.sort("arm", "step")["tool"].to_list() == ["lookup_order", "issue_refund"] * 2
    assert events.filter(events["tool"] == "issue_refund")["blocked"].all()
