"""The sandbox as an MCP server, driven by the official SDK's client: tools listed with
configured or inferred schemas, calls routed to the request key's session and recorded."""

from __future__ import annotations

import asyncio
from typing import Any

from harness.config import parse_config
from harness.tools import Sandbox
from harness.tools.mcp_server import serve_mcp

RECORDED = {"r1": [
    {"name": "lookup_order", "arguments": {"order_id": "1234", "verbose": True}, "result": {"status": "shipped"}},
    {"name": "issue_refund", "arguments": {"order_id": "1234", "amount": 49.5}, "result": {"refund_id": "rf-1"}},
]}  # fmt: skip


def test_mcp_client_lists_and_calls_the_sandboxed_tools() -> None:
    from mcp import Client

    tools = parse_config({"tools": {"sandbox": {"on_miss": "error"}, "policies": {"search_kb": {
        "description": "Search the help center", "parameters": {"type": "object", "required": ["q"],
                                                                "properties": {"q": {"type": "string"}}}}}}}).tools

    async def go() -> dict[str, Any]:
        sandbox = Sandbox(tools, RECORDED)
        session = sandbox.open("r1", "candidate", 0)
        async with serve_mcp(sandbox) as url, Client(f"{url}?request_key={session.key}") as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            served = await client.call_tool("lookup_order", {"order_id": "1234", "verbose": True})
            blocked = await client.call_tool("issue_refund", {"order_id": "1234", "amount": 49.5})
            missed = await client.call_tool("search_kb", {"q": "returns"})
        async with serve_mcp(sandbox) as url, Client(url) as client:  # no request key: no session
            keyless = await client.call_tool("lookup_order", {"order_id": "1234"})
        return {"listed": listed, "served": served, "blocked": blocked, "missed": missed, "keyless": keyless,
                "events": sandbox.events_for([("r1", "candidate", 0)])}

    got = asyncio.run(go())
    listed = got["listed"]
    assert set(listed) == {"issue_refund", "lookup_order", "search_kb"}
    assert listed["search_kb"].description == "Search the help center"
    assert listed["search_kb"].input_schema["required"] == ["q"]
    assert listed["lookup_order"].input_schema["properties"] == {"order_id": {"type": "string"},
                                                                 "verbose": {"type": "boolean"}}
    assert listed["issue_refund"].input_schema["properties"]["amount"] == {"type": "number"}
    assert got["served"].structured_content == {"status": "shipped"} and not got["served"].is_error
    assert got["blocked"].structured_content == {"refund_id": "rf-1"}
    assert got["missed"].is_error and "no recording of 'search_kb'" in got["missed"].content[0].text
    assert got["keyless"].is_error and "request key" in got["keyless"].content[0].text
    assert [(e.tool, e.policy, e.match) for e in got["events"]] == [
        ("lookup_order", "replay", "exact"), ("issue_refund", "block", "exact"), ("search_kb", "error", "miss")]


def test_replay_serves_mcp_to_agents_that_speak_it(tmp_path: Any) -> None:
    from harness.ingest import ingest
    from harness.replay import replay
    from harness.store import Store
    from tests.conftest import write_jsonl

    store = Store(tmp_path / "h.duckdb")
    rows = [{"request_id": "r1", "input": "refund 1234", "captured": {"output": "ok", "tool_calls": RECORDED["r1"]},
             "metadata": {"calls": [["lookup_order", {"order_id": "1234"}], ["issue_refund", {"order_id": "1234"}]]}}]
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", rows)], "d", progress=False)
    agent = {"kind": "python", "callable": "tests.tool_agents:mcp_user"}
    config = parse_config({"replay": {"dataset": "d", "prod_repeat_fraction": 0}, "tools": {"sandbox": {"mcp": True}},
                           "agents": {"prod": agent, "candidate": agent}})
    summary = replay(config, store=store, progress=False)
    outputs = store.responses(summary.run_id)["output"].to_list()
    assert outputs == ["['issue_refund', 'lookup_order'] [{'status': 'shipped'}, {'refund_id': 'rf-1'}]"] * 2
    events = store.tool_events(summary.run_id)
    assert events.height == 4 and events.filter(events["tool"] == "issue_refund")["blocked"].all()
