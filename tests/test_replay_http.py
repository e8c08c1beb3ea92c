"""Replay through an HTTP agent that fails on purpose: retries, backoff, Retry-After, timeouts."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from harness.config import parse_config
from harness.errors import ReplayError
from harness.ingest import ingest
from harness.replay import replay
from harness.store import Store
from tests.conftest import write_jsonl
from tests.procs import run_harness
from tests.servers import serve, unused_port


def flaky_app(log: list[tuple[str, float]]) -> web.Application:
    """Per request id and arm (the path): 'ok', 'r429-N' (429 with Retry-After 0.2 s for the
    first N tries), 'r503-N' (503 without Retry-After N times), 'hang' (never answers), 'r400'."""
    attempts: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        rid = body["request_id"]
        key = f"{rid}:{request.match_info['arm']}"
        attempts[key] += 1
        log.append((rid, time.monotonic()))
        kind, _, times = rid.partition("-")
        if kind == "hang":
            await asyncio.sleep(3600)
        if kind == "r400":
            return web.json_response({"error": "bad input"}, status=400)
        if kind == "r429" and attempts[key] <= int(times):
            return web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "0.2"})
        if kind == "r503" and attempts[key] <= int(times):
            return web.json_response({"error": "unavailable"}, status=503)
        return web.json_response({"output": f"answer {rid}", "usage": {"input_tokens": 10, "output_tokens": 2},
                                  "model": "gpt-4.1"})

    app = web.Application()
    app.router.add_post("/agent/{arm}", handle)
    return app


def run(tmp_path: Path, url: str, ids: list[str], **settings: object) -> tuple[Store, str]:
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", [{"request_id": i, "input": "q"} for i in ids])], "d",
           progress=False)
    cfg = parse_config({"replay": {"dataset": "d", "concurrency": 4, "flush_interval_s": 0.1,
                                   "backoff_base_s": 0.05, "prod_repeat_fraction": 0, **settings},
                        "agents": {"prod": {"kind": "http", "url": f"{url}/prod"},
                                   "candidate": {"kind": "http", "url": f"{url}/candidate"}}})
    summary = replay(cfg, store=store, progress=False)
    assert summary.status == "completed"
    return store, summary.run_id


def by_request(store: Store, run_id: str) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in store.responses(run_id).iter_rows(named=True):
        rows.setdefault(row["request_id"], []).append(row)
    return rows


def test_retries_honour_retry_after_and_give_up_within_the_bound(tmp_path: Path) -> None:
    log: list[tuple[str, float]] = []
    with serve(flaky_app(log)) as base:
        store, run_id = run(tmp_path, f"{base}/agent", ["ok", "r429-1", "r503-1", "r503-9", "r400"],
                            max_attempts=3, timeout_s=5)
    rows = by_request(store, run_id)
    assert all(r["error_type"] is None and r["attempts"] == 1 for r in rows["ok"])
    # 429 once per arm, then success: Retry-After 0.2 s was waited before the retry
    assert all(r["error_type"] is None for r in rows["r429-1"])
    assert [r["attempts"] for r in rows["r429-1"]] == [2, 2]
    times = [t for rid, t in log if rid == "r429-1"]
    assert max(times) - min(times) >= 0.2
    assert all(r["error_type"] is None for r in rows["r503-1"])
    # persistent 503: exactly max_attempts tries each, then recorded as an http_error
    assert [r["attempts"] for r in rows["r503-1"]] == [2, 2]
    assert [r["attempts"] for r in rows["r503-9"]] == [3, 3]
    assert {r["error_type"] for r in rows["r503-9"]} == {"http_error"}
    assert "503" in rows["r503-9"][0]["error_message"]
    assert sum(1 for rid, _ in log if rid == "r503-9") == 6
    # 400 is not worth retrying
    assert [r["attempts"] for r in rows["r400"]] == [1, 1]


def test_retry_after_over_the_limit_is_not_waited(tmp_path: Path) -> None:
    async def always_429(request: web.Request) -> web.Response:
        return web.json_response({}, status=429, headers={"Retry-After": "3600"})

    app = web.Application()
    app.router.add_post("/agent/{arm}", always_429)
    with serve(app) as base:
        started = time.monotonic()
        store, run_id = run(tmp_path, f"{base}/agent", ["a", "b"], max_retry_after_s=5)
        assert time.monotonic() - started < 10
    rows = store.responses(run_id)
    assert set(rows["error_type"].to_list()) == {"rate_limited"}
    assert "over the 5s limit" in rows["error_message"][0]


def test_hanging_agent_times_out_and_connection_refused_is_recorded(tmp_path: Path) -> None:
    log: list[tuple[str, float]] = []
    with serve(flaky_app(log), shutdown_timeout=0.1) as base:
        started = time.monotonic()
        store, run_id = run(tmp_path, f"{base}/agent", ["hang", "ok"], timeout_s=0.3, max_attempts=2)
        assert time.monotonic() - started < 10
    rows = by_request(store, run_id)
    assert {r["error_type"] for r in rows["hang"]} == {"timeout"}
    assert {r["attempts"] for r in rows["hang"]} == {2}
    assert {r["error_type"] for r in rows["ok"]} == {None}

    store2, run2 = run(tmp_path / "refused", f"http://127.0.0.1:{unused_port()}/agent", ["x"], max_attempts=2,
                       preflight=False)
    assert set(store2.responses(run2)["error_type"].to_list()) == {"connection_error"}


def test_preflight_stops_before_a_replay_when_nothing_listens(tmp_path: Path) -> None:
    """Regression: with nothing on the candidate's port the whole replay ran to 100% connection errors."""
    log: list[tuple[str, float]] = []
    port = unused_port()
    with serve(flaky_app(log)) as base:
        store = Store(tmp_path / "h.duckdb")
        ingest(store, [write_jsonl(tmp_path / "log.jsonl", [{"request_id": f"ok{i}", "input": "q"} for i in range(20)])],
               "d", progress=False)
        cfg = parse_config({"replay": {"dataset": "d", "max_attempts": 2, "backoff_base_s": 0.01},
                            "agents": {"prod": {"kind": "http", "url": f"{base}/agent/prod"},
                                       "candidate": {"kind": "http", "url": f"http://127.0.0.1:{port}/v2?token=s3cr3t-v4lue"}}})
        with pytest.raises(ReplayError) as info:
            replay(cfg, store=store, progress=False)
    message = str(info.value)
    assert "preflight failed, nothing was replayed" in message
    assert f"the candidate agent (http http://127.0.0.1:{port}/v2" in message and "connection_error" in message
    assert "prod/prod_repeat agent" not in message and "replay.preflight = false" in message
    assert "s3cr3t-v4lue" not in message
    assert store.sql("SELECT count(*) AS n FROM responses")["n"][0] == 0
    assert len([rid for rid, _ in log]) <= 3  # prod was asked once per preflight request at most


def test_preflight_uses_the_configured_request_and_passes_an_agent_that_answers_with_errors(tmp_path: Path) -> None:
    log: list[tuple[str, float]] = []
    with serve(flaky_app(log)) as base:
        store, run_id = run(tmp_path, f"{base}/agent", ["r400", "ok"], preflight_request="ok")
    assert [rid for rid, _ in log].count("ok") == 4  # 2 preflight calls (prod, candidate) + 2 replayed
    assert {r["error_type"] for r in by_request(store, run_id)["r400"]} == {"http_error"}


def test_the_command_line_says_how_to_skip_the_preflight(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", [{"request_id": "r1", "input": "q"}])
    config = tmp_path / "harness.toml"
    url = f"http://127.0.0.1:{unused_port()}/agent"
    config.write_text(f'db = "h.duckdb"\n[replay]\ndataset = "d"\nmax_attempts = 1\n'
                      f'[agents.prod]\nkind = "http"\nurl = "{url}"\n[agents.candidate]\nkind = "http"\nurl = "{url}"\n')
    assert run_harness("ingest", str(log), "--name", "d", "--config", str(config), cwd=tmp_path).returncode == 0
    result = run_harness("replay", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert "preflight failed, nothing was replayed" in result.stderr and "or pass --no-preflight" in result.stderr
