"""The tool sandbox on its own: each policy, each match kind, each miss policy, and what it records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from harness.config import parse_config
from harness.config.tools import ToolsConfig
from harness.errors import ConfigError, ToolCallError
from harness.tools import Sandbox
from harness.tools.session import capped_json
from tests.servers import serve

RECORDED = {"r1": [
    {"name": "lookup_order", "arguments": {"order_id": "1234"}, "result": {"status": "shipped"}},
    {"name": "lookup_order", "arguments": {"order_id": "5678"}, "result": {"status": "lost"}},
    {"name": "issue_refund", "arguments": {"order_id": "1234", "amount": 49}, "result": {"refund_id": "rf-1"}},
]}  # fmt: skip


def tools(**section: Any) -> ToolsConfig:
    return parse_config({"tools": section}).tools


def run(sandbox: Sandbox, calls: list[tuple[str, Any]], request_id: str = "r1") -> list[Any]:
    async def go() -> list[Any]:
        session = sandbox.open(request_id, "candidate", 0)
        out = []
        for name, arguments in calls:
            try:
                out.append(await session.call(name, arguments))
            except ToolCallError as exc:
                out.append(("error", str(exc)))
        await sandbox.aclose()
        return out

    return asyncio.run(go())


def events(sandbox: Sandbox) -> list[dict[str, Any]]:
    from dataclasses import asdict

    return [asdict(e) for e in sandbox.events_for([("r1", "candidate", 0)])]


def test_replay_serves_the_exact_recording_under_the_action_normalization() -> None:
    sandbox = Sandbox(tools(), RECORDED)
    assert run(sandbox, [("lookup_order", {"order_id": " 5678 "}), ("lookup_order", {"order_id": 1234})]) == [
        {"status": "lost"}, {"status": "shipped"}]
    got = events(sandbox)
    assert [(e["step"], e["policy"], e["match"], e["tool_class"], e["blocked"]) for e in got] == [
        (0, "replay", "exact", "read", False), (1, "replay", "exact", "read", False)]
    assert json.loads(got[0]["result"]) == {"status": "lost"} and got[0]["error"] is None


def test_an_agent_that_changes_its_answer_changes_no_recording_and_no_event() -> None:
    """Python agents get their own copy; the recording serves every arm unchanged, and each event
    stores what was served."""
    sandbox = Sandbox(tools(), RECORDED)

    async def go() -> list[Any]:
        first, second = sandbox.open("r1", "prod", 0), sandbox.open("r1", "candidate", 0)
        served = await first.call("lookup_order", {"order_id": "1234"})
        served["status"] = "refunded by the agent"
        served.clear()
        return [await second.call("lookup_order", {"order_id": "1234"}),
                await second.answer("lookup_order", {"order_id": "1234"})]

    assert asyncio.run(go()) == [{"status": "shipped"}] * 2
    stored = [e.result for e in sandbox.events_for([("r1", "prod", 0), ("r1", "candidate", 0)])]
    assert [json.loads(text) for text in stored] == [{"status": "shipped"}] * 3
    assert RECORDED["r1"][0]["result"] == {"status": "shipped"}


def test_nearest_is_the_recording_at_the_same_position_of_that_tool() -> None:
    sandbox = Sandbox(tools(), RECORDED)
    served = run(sandbox, [("lookup_order", {"order_id": "9"}), ("lookup_order", {"order_id": "8"}),
                           ("lookup_order", {"order_id": "7"})])
    # 1st call -> 1st recording, 2nd -> 2nd, 3rd (more calls than production made) -> the last one
    assert served == [{"status": "shipped"}, {"status": "lost"}, {"status": "lost"}]
    assert [e["match"] for e in events(sandbox)] == ["nearest"] * 3


def test_block_is_the_default_for_writes_and_answers_the_recording_or_the_stub() -> None:
    sandbox = Sandbox(tools(), RECORDED)
    served = run(sandbox, [("issue_refund", {"amount": 49, "order_id": "1234"}), ("cancel_order", {"id": 1})])
    assert served[0] == {"refund_id": "rf-1"}  # the recording's result, so the agent can go on
    assert served[1]["status"] == "blocked" and served[1]["tool"] == "cancel_order"
    got = events(sandbox)
    assert [(e["policy"], e["match"], e["blocked"], e["tool_class"]) for e in got] == [
        ("block", "exact", True, "write"), ("block", "miss", True, "write")]
    fixed = Sandbox(tools(policies={"issue_*": {"stub": {"ok": True}, "stub_from_recording": False}}), RECORDED)
    assert run(fixed, [("issue_refund", {"order_id": "1234", "amount": 49})]) == [{"ok": True}]


@pytest.mark.parametrize(("on_miss", "expected"), [("error", "error"), ("block", "block")])
def test_a_miss_goes_to_the_miss_policy(on_miss: str, expected: str) -> None:
    sandbox = Sandbox(tools(sandbox={"on_miss": on_miss}), RECORDED)
    served = run(sandbox, [("search_kb", {"q": "returns"})])
    if expected == "error":
        assert served[0][0] == "error" and "no recording of 'search_kb'" in served[0][1]
    else:
        assert served[0]["status"] == "blocked"
    (event,) = events(sandbox)
    assert (event["policy"], event["match"], event["blocked"]) == (expected, "miss", expected == "block")
    assert (event["error"] is not None, event["result"] is not None) == (expected == "error", expected == "block")


@pytest.fixture(scope="module")
def staging() -> Iterator[tuple[str, list[Any]]]:
    """A real staging service on loopback that answers every POST and remembers the bodies."""
    seen: list[Any] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(await request.json())
        if request.match_info["name"] == "broken":
            return web.json_response({"error": "down"}, status=503)
        return web.json_response({"live": True, "echo": seen[-1]})

    app = web.Application()
    app.router.add_post("/{name}", handle)
    with serve(app) as url:
        yield url, seen


def test_live_forwards_to_the_endpoint_and_a_live_miss_too(staging: tuple[str, list[Any]]) -> None:
    url, seen = staging
    config = tools(sandbox={"on_miss": "live"}, policies={
        "search_kb": {"url": f"{url}/search"},  # a read tool missing its recording: on_miss = live
        "issue_refund": {"policy": "live", "url": f"{url}/refund", "allow_live_write": True},
        "cancel_order": {"policy": "live", "url": f"{url}/broken"}})  # fmt: skip
    sandbox = Sandbox(config, RECORDED)
    served = run(sandbox, [("search_kb", {"q": "x"}), ("issue_refund", {"order_id": "1"}), ("cancel_order", {"id": 2})])
    assert served[0] == {"live": True, "echo": {"q": "x"}} and served[1]["echo"] == {"order_id": "1"}
    assert served[2][0] == "error" and "HTTP 503" in served[2][1]
    got = events(sandbox)
    assert [(e["policy"], e["match"], e["live_allowed"]) for e in got] == [
        ("live", "miss", False), ("live", "nearest", True), ("live", "miss", False)]
    assert seen[-3:] == [{"q": "x"}, {"order_id": "1"}, {"id": 2}]


def test_policies_exact_name_beats_glob_and_globs_apply_in_order() -> None:
    config = tools(policies={"issue_*": {"policy": "replay"}, "issue_refund": {"policy": "block"},
                             "*": {"on_miss": "block"}})
    book = Sandbox(config).policies
    assert (book.for_tool("issue_refund").policy, book.for_tool("issue_voucher").policy) == ("block", "replay")
    assert book.for_tool("get_x").source == "default for read tools (policies: *)"
    assert book.for_tool("get_x").on_miss == "block"
    with pytest.raises(ConfigError, match="policy"):
        parse_config({"tools": {"policies": {"x": {"policy": "sometimes"}}}})


def test_hostile_arguments_are_stored_safely() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    huge = {"blob": "y" * 100_000}
    sandbox = Sandbox(tools(sandbox={"on_miss": "block"}), RECORDED)
    run(sandbox, [("get_blob", huge), ("get_deep", deep), ("get_text", "not json {"), ("get_evil", {"<script>": "\ud800"})])
    got = events(sandbox)
    assert got[0]["arguments"] is None and got[0]["arguments_digest"].startswith("sha256:")
    assert "not storable" in got[1]["arguments"]
    assert json.loads(got[2]["arguments"]) == "not json {"
    assert got[3]["arguments"].encode("utf-8")  # a lone surrogate never reaches the store
    assert capped_json({"a": 1}, 3) == (None, capped_json({"a": 1}, 100)[1])


def test_emulate_asks_a_model_for_a_plausible_result(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append((request.headers.get("Authorization"), json.loads(body["messages"][1]["content"])))
        content = '```json\n{"articles": [{"id": "kb-1", "title": "Returns"}]}\n```'
        return web.json_response({"id": "c", "object": "chat.completion", "created": 1, "model": "emu",
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": content}}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    monkeypatch.setenv("EMULATOR_KEY", "sk-emulator-secret-0042")
    with serve(app) as url:
        config = tools(sandbox={"on_miss": "emulate", "emulator": {"base_url": f"{url}/v1", "model": "emu",
                                                                   "api_key_env": "EMULATOR_KEY"}},
                       policies={"search_kb": {"description": "Search the help center"}})
        sandbox = Sandbox(config, RECORDED)

        async def go() -> Any:
            session = sandbox.open("r1", "candidate", 0, messages=[{"role": "user", "content": "how do returns work?"}])
            served = await session.call("search_kb", {"q": "returns"})
            await sandbox.aclose()
            return served

        served = asyncio.run(go())
    assert served == {"articles": [{"id": "kb-1", "title": "Returns"}]}
    auth, prompt = seen[0]
    assert auth == "Bearer sk-emulator-secret-0042"
    assert prompt["tool"] == "search_kb" and prompt["description"] == "Search the help center"
    assert prompt["arguments"] == {"q": "returns"} and "how do returns work?" in prompt["conversation"]
    (event,) = events(sandbox)
    assert (event["policy"], event["match"], event["blocked"]) == ("emulate", "miss", True)
    assert "sk-emulator" not in json.dumps(event, default=str)
    with pytest.raises(ConfigError, match="emulator"):
        parse_config({"tools": {"policies": {"x": {"policy": "emulate"}}}})


def test_recordings_are_read_once_per_chunk_and_only_when_a_tool_is_called() -> None:
    reads: list[list[str]] = []

    def source(ids: list[str]) -> dict[str, Any]:
        reads.append(list(ids))
        return {rid: RECORDED["r1"] for rid in ids}

    async def go() -> list[Any]:
        sandbox = Sandbox(tools(), source)
        await sandbox.prepare(["r0", "r1", "r2"])
        await sandbox.prepare(["r3"])
        assert reads == []  # nothing read before a tool is called
        sessions = [sandbox.open(f"r{i % 3}", "prod", i) for i in range(30)]
        return await asyncio.gather(*(s.call("lookup_order", {"order_id": "1234"}) for s in sessions))

    served = asyncio.run(go())
    assert served == [{"status": "shipped"}] * 30 and reads == [["r0", "r1", "r2"]]
