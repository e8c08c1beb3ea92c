"""The sandbox's HTTP endpoint: a `command` agent (env vars) and an `http` agent (template
variables) call their tools through it during a replay, 64 in flight each routed to its own
request; refused calls are clear 4xx answers."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from harness.agents import Agent, AgentContext, CallContext
from harness.agents.http import HttpAgent, HttpAgentConfig
from harness.config import parse_config
from harness.ingest import ingest
from harness.records import AgentResult, Request
from harness.replay import replay
from harness.store import Store
from harness.tools import Sandbox
from harness.tools.endpoint import REQUEST_KEY_HEADER, serve_endpoint
from tests.conftest import write_jsonl
from tests.servers import serve

SCRIPT = """
import json, os, sys, urllib.request

request = json.load(sys.stdin)
order = request["metadata"]["order"]
def tool(name, arguments):
    call = urllib.request.Request(os.environ["HARNESS_TOOLS_URL"] + "/tools/" + name, json.dumps(arguments).encode(),
                                  {"X-Harness-Request-Key": os.environ["HARNESS_REQUEST_KEY"]}, method="POST")
    with urllib.request.urlopen(call) as answer:
        return json.load(answer)
status = tool("lookup_order", {"order_id": order})
refund = tool("issue_refund", {"order_id": order})
print(json.dumps({"output": f"{request['request_id']} {status['status']} {refund['id']}"}))
"""


def records(n: int) -> list[dict[str, Any]]:
    return [{"request_id": f"r{i}", "input": f"refund {i}", "metadata": {"order": str(i)},
             "captured": {"variant": "prod", "output": "ok", "tool_calls": [
                 {"name": "lookup_order", "arguments": {"order_id": str(i)}, "result": {"status": f"s{i}"}},
                 {"name": "issue_refund", "arguments": {"order_id": str(i)}, "result": {"id": f"rf{i}"}}]}}
            for i in range(n)]  # fmt: skip


def config(agent: dict[str, Any], concurrency: int = 8) -> Any:
    return parse_config({"replay": {"dataset": "d", "concurrency": concurrency, "prod_repeat_fraction": 0,
                                    "flush_interval_s": 0.1, "timeout_s": 30},
                         "agents": {"prod": agent, "candidate": agent}})


def check_routed(store: Store, run_id: str, n: int) -> None:
    rows = store.responses(run_id)
    assert rows.height == 2 * n and rows["error_type"].null_count() == 2 * n, rows["error_message"].to_list()[:3]
    for row in rows.iter_rows(named=True):
        i = row["request_id"][1:]
        assert row["output"] == f"r{i} s{i} rf{i}"  # each request got its own recordings
        assert [c["name"] for c in json.loads(row["tool_calls"])] == ["lookup_order", "issue_refund"]
    events = store.tool_events(run_id)
    assert events.height == 4 * n and events.filter(events["tool"] == "issue_refund")["blocked"].all()


def test_command_agent_calls_tools_through_env_vars(store: Store, tmp_path: Path) -> None:
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records(6))], "d", progress=False)
    (tmp_path / "agent.py").write_text(SCRIPT, encoding="utf-8")
    summary = replay(config({"kind": "command", "command": [sys.executable, str(tmp_path / "agent.py")]}),
                     store=store, progress=False)
    check_routed(store, summary.run_id, 6)


def agent_app() -> web.Application:
    """An http agent that calls its tools at the URL and with the key the harness put in the body."""

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        headers = {REQUEST_KEY_HEADER: body["key"]}
        async with aiohttp.ClientSession() as http:
            results = []
            for name in ("lookup_order", "issue_refund"):
                await asyncio.sleep(0.01)  # many calls overlap
                async with http.post(f"{body['tools']}/tools/{name}", json={"order_id": body["order"]},
                                     headers=headers) as r:
                    results.append(await r.json())
        return web.json_response({"output": f"{body['rid']} {results[0]['status']} {results[1]['id']}"})

    app = web.Application()
    app.router.add_post("/agent", answer)
    return app


def test_http_agent_with_64_in_flight_routes_every_tool_call_to_its_request(store: Store, tmp_path: Path) -> None:
    n = 160
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records(n))], "d", progress=False)
    with serve(agent_app()) as url:
        agent = {"kind": "http", "url": f"{url}/agent",
                 "body": {"rid": "{{request_id}}", "order": "{{metadata.order}}", "tools": "{{tools_url}}",
                          "key": "{{request_key}}"}}
        summary = replay(config(agent, concurrency=64), store=store, progress=False)
    check_routed(store, summary.run_id, n)


def test_refused_calls_are_clear_errors() -> None:
    async def go() -> list[tuple[int, Any]]:
        sandbox = Sandbox(parse_config({}).tools, {"r1": []})
        session = sandbox.open("r1", "prod", 0)
        out = []
        async with serve_endpoint(sandbox) as url, aiohttp.ClientSession() as http:
            assert url.startswith("http://127.0.0.1:")
            for headers, data in (({}, b"{}"), ({REQUEST_KEY_HEADER: session.key}, b"{not json"),
                                  ({REQUEST_KEY_HEADER: session.key}, b'{"q": 1}')):
                async with http.post(f"{url}/tools/search_kb", data=data, headers=headers) as r:
                    out.append((r.status, (await r.json())["error"]))
            key = {REQUEST_KEY_HEADER: session.key}
            for method, path, data in (("POST", "/answer", b"{}"), ("POST", "/tools/a/b", b"{}"),
                                       ("GET", "/tools/search_kb", None),
                                       ("POST", "/tools/search_kb", b" " * (16 * 1024 * 1024 + 1))):
                async with http.request(method, f"{url}{path}", data=data, headers=key) as r:
                    out.append((r.status, (await r.json())["error"]))
        assert sandbox.tools_url is None  # closed at the end
        return out

    (unknown, bad, miss, elsewhere, nested, get, huge) = asyncio.run(go())
    assert unknown[0] == 404 and "request key" in unknown[1]
    assert bad[0] == 400 and "not JSON" in bad[1]
    assert miss[0] == 422 and "no recording of 'search_kb'" in miss[1]
    assert elsewhere[0] == nested[0] == 404 and "POST /tools/<name>" in elsewhere[1]
    assert get[0] == 405 and huge[0] == 413  # a body past 16 MiB is refused, not read whole


class _Recorder(Agent):
    """Answers at once and remembers the sandbox endpoint each call was told of."""

    def __init__(self, uses_tool_endpoint: bool) -> None:
        super().__init__()
        self.uses_tool_endpoint = uses_tool_endpoint
        self.urls: set[str | None] = set()

    async def call(self, request: Request, context: CallContext) -> AgentResult:
        self.urls.add(context.tools_url)
        return AgentResult(output="ok")


def test_endpoint_is_served_only_when_an_agent_can_be_told_of_it(store: Store, tmp_path: Path) -> None:
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records(3))], "d", progress=False)
    for uses in (False, True):
        agent = _Recorder(uses)
        replay(config({"kind": "http", "url": "http://127.0.0.1:9/unused"}), store=store, progress=False,
               agents={"prod": agent, "candidate": agent})
        (url,) = agent.urls
        assert (url is not None) is uses, (uses, url)
    plain = {"kind": "http", "url": "http://127.0.0.1:9/a", "body": {"q": "{{input}}", "id": "{{ request_id }}"}}
    assert not HttpAgent(HttpAgentConfig(**plain), AgentContext()).uses_tool_endpoint
    for placeholder in ("{{tools_url}}", "{{ request_key }}", "see {{mcp_url}}"):
        told = dict(plain, body={"q": "{{input}}", "nested": [{"x": placeholder}]})
        assert HttpAgent(HttpAgentConfig(**told), AgentContext()).uses_tool_endpoint, placeholder
