"""The sandbox inside a replay: python agents call tools through `context.tools`, the calls are
the responses' actions, tool_events are stored with their responses, and a replay SIGKILLed in
the middle of its tool loops resumes without duplicated or lost events."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from harness.config import parse_config
from harness.ingest import ingest
from harness.replay import replay
from harness.store import Store
from tests.conftest import write_jsonl
from tests.procs import run_harness, start_harness


def records(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        calls = [["lookup_order", {"order_id": str(i)}], ["issue_refund", {"order_id": str(i), "amount": i}]]
        recorded = [{"name": "lookup_order", "arguments": {"order_id": str(i)}, "result": {"status": f"s{i}"}},
                    {"name": "issue_refund", "arguments": {"order_id": str(i), "amount": i}, "result": {"id": f"rf{i}"}}]
        out.append({"request_id": f"r{i}", "input": f"refund order {i}", "metadata": {"calls": calls},
                    "captured": {"variant": "prod", "output": "done", "tool_calls": recorded}})
    return out


def config(**tools: Any) -> Any:
    agent = {"kind": "python", "callable": "tests.tool_agents:tool_user"}
    return parse_config({"replay": {"dataset": "d", "concurrency": 8, "flush_interval_s": 0.1,
                                    "prod_repeat_fraction": 0},
                         "agents": {"prod": agent, "candidate": agent | {"callable": "tests.tool_agents:sync_tool_user"}},
                         "tools": tools})


def test_python_agents_call_tools_and_their_calls_are_the_actions(store: Store, tmp_path: Path) -> None:
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records(30))], "d", progress=False)
    summary = replay(config(), store=store, progress=False)
    assert summary.status == "completed" and summary.n_errors == 0
    rows = store.responses(summary.run_id)
    first = rows.filter(rows["request_id"] == "r3").row(0, named=True)
    assert first["output"] == "r3: [{'status': 's3'}, {'id': 'rf3'}]"  # recorded read, blocked write's recording
    assert json.loads(first["tool_calls"]) == [
        {"name": "lookup_order", "arguments": {"order_id": "3"}, "result": {"status": "s3"}},
        {"name": "issue_refund", "arguments": {"order_id": "3", "amount": 3}, "result": {"id": "rf3"}}]
    assert rows["n_tool_calls"].to_list() == [2] * 60
    events = store.tool_events(summary.run_id)
    assert events.height == 120
    assert events.filter(events["tool"] == "issue_refund")["blocked"].all()
    assert set(events["match"]) == {"exact"} and set(events["arm"]) == {"prod", "candidate"}
    summary_rows = store.tool_event_summary(summary.run_id).to_dicts()
    refunds = [r for r in summary_rows if r["tool"] == "issue_refund"]
    assert [(r["arm"], r["writes_blocked"], r["misses"]) for r in refunds] == [("candidate", 30, 0), ("prod", 30, 0)]


def test_sandbox_disabled_leaves_agents_without_tools(store: Store, tmp_path: Path) -> None:
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records(3))], "d", progress=False)
    summary = replay(config(sandbox={"enabled": False}), store=store, progress=False)
    assert summary.n_errors == 6 and store.tool_events(summary.run_id).is_empty()


CONFIG = """
[replay]
dataset = "d"
concurrency = 16
flush_interval_s = 0.05
prod_repeat_fraction = 0

[agents.prod]
kind = "python"
callable = "tests.tool_agents:tool_user"

[agents.candidate]
kind = "python"
callable = "tests.tool_agents:tool_user"
"""


def test_sigkill_mid_tool_loop_then_resume_keeps_each_event_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "h.duckdb")
    n = 150
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records(n))], "d", progress=False)
    (tmp_path / "harness.toml").write_text(CONFIG, encoding="utf-8")
    args = ["replay", "-c", str(tmp_path / "harness.toml"), "--run-id", "r", "--db", str(store.path)]

    def written() -> int:
        return int(store.sql("SELECT count(*) AS n FROM responses")["n"][0])

    killed = 0
    for target in (40, 120):
        proc = start_harness(*args, TOOL_AGENT_DELAY="0.02")
        while proc.poll() is None and written() < target:
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
    assert killed >= 1
    done = run_harness(*args, TOOL_AGENT_DELAY="0")
    assert done.returncode == 0, done.stderr
    per_response = store.sql(
        "SELECT x.request_id, x.arm, count(e.step) AS n, count(DISTINCT e.step) AS steps FROM responses x"
        " LEFT JOIN tool_events e USING (run_id, request_id, arm, sample) WHERE x.run_id = 'r' GROUP BY ALL")
    assert per_response.height == 2 * n
    assert per_response["n"].to_list() == [2] * (2 * n) == per_response["steps"].to_list()  # none lost, none twice
    orphans = store.sql("SELECT count(*) AS n FROM tool_events e ANTI JOIN responses x"
                        " USING (run_id, request_id, arm, sample)")
    assert orphans["n"][0] == 0


def test_64_in_flight_are_routed_to_their_own_request(store: Store, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records(200))], "d", progress=False)
    cfg = config()
    cfg = cfg.model_copy(update={"replay": cfg.replay.model_copy(update={"concurrency": 64})})
    monkeypatch.setenv("TOOL_AGENT_DELAY", "0.005")  # the calls of many requests interleave
    summary = replay(cfg, store=store, progress=False)
    events = store.tool_events(summary.run_id)
    lookups = events.filter(events["tool"] == "lookup_order")
    assert lookups.height == 400
    for row in lookups.iter_rows(named=True):  # each request was served its own recording
        assert json.loads(row["result"]) == {"status": f"s{row['request_id'][1:]}"}


def test_gates_warn_on_candidate_misses_and_fail_on_an_unallowed_live_write(store: Store, tmp_path: Path) -> None:
    from aiohttp import web

    from harness.config import GatesConfig
    from harness.gates.run import evaluate_gates, gate_run, load_inputs
    from harness.gates.side_effects import side_effect_checks
    from tests.servers import serve

    hits: list[Any] = []

    async def refund(request: web.Request) -> web.Response:
        hits.append(await request.json())
        return web.json_response({"refunded": True})

    app = web.Application()
    app.router.add_post("/refund", refund)
    rows = records(60)
    for i, r in enumerate(rows):  # the candidate searches a knowledge base production never used: misses
        r["metadata"]["candidate_calls"] = [["search_kb", {"q": f"policy {i}"}], *r["metadata"]["calls"]]
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", rows)], "d", progress=False)
    with serve(app) as url:
        live = replay(config(sandbox={"on_miss": "block"},
                             policies={"issue_refund": {"policy": "live", "url": f"{url}/refund"}}),
                      store=store, progress=False)
    assert len(hits) == 120  # both arms' refunds went out: the config said live
    inputs = load_inputs(store, live.run_id, GatesConfig())
    (miss,) = evaluate_gates(inputs, GatesConfig(), segments=False, only={"tool_miss_rate"}).checks

    assert miss.status == "fail" and miss.estimate == pytest.approx(1 / 3)
    (check,) = side_effect_checks(store, live.run_id)
    assert check.status == "fail" and check.details["live_writes_unallowed"] == 120
    assert "issue_refund (candidate, 60)" in check.sentence
    report = gate_run(store, live.run_id)
    assert report.verdict == "rollback" and any("no_live_writes" in r for r in report.reasons)
    safe = replay(config(sandbox={"on_miss": "block"}), store=store, progress=False)
    (check,) = side_effect_checks(store, safe.run_id)
    assert check.status == "pass" and check.details["writes_blocked"] == 120 and len(hits) == 120


def test_report_side_effects_section_escapes_hostile_arguments(store: Store, tmp_path: Path) -> None:
    from harness.gates.run import gate_run
    from harness.report import build_context, render

    rows = records(4)
    rows[0]["metadata"]["calls"] = [["issue_refund", {"note": "<script>alert('x')</script>"}],
                                    ["cancel_order", "<img src=x onerror=alert(1)>"], ["get_blob", {"b": "z" * 10_000}]]
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", rows)], "d", progress=False)
    run_id = replay(config(), store=store, progress=False).run_id
    gate_run(store, run_id)
    context = build_context(store, run_id)
    line = next(i for i in context.checklist if i.title == "No side effects during replay")
    assert line.status == "done" and "intended writes blocked" in line.evidence[0]
    html = render(context)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert 'id="side-effects"' in html and "No write call reached a live endpoint." in html
    blob = store.tool_events(run_id).filter(pl.col("tool") == "get_blob")
    assert blob["arguments"].null_count() == 2 and blob["arguments_digest"].str.starts_with("sha256:").all()
