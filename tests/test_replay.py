"""Replay with real python agents: completeness, arms, repeats, limits, budget, resume rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from harness.config import parse_config
from harness.errors import ReplayError, StoreError
from harness.ingest import ingest
from harness.replay import repeat_selected, replay
from harness.store import Store
from tests.conftest import simple_records, write_jsonl


def config(**replay_settings: Any) -> Any:
    settings = {"dataset": "d", "concurrency": 8, "timeout_s": 5, "flush_interval_s": 0.2} | replay_settings
    return parse_config({
        "replay": settings,
        "agents": {
            "prod": {"kind": "python", "callable": "tests.sample_agents:agent"},
            "candidate": {"kind": "python", "callable": "tests.sample_agents:sync_agent", "model": "gpt-4.1"},
        },
    })  # fmt: skip


def dataset(store: Store, tmp_path: Path, records: list[dict[str, Any]]) -> None:
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records)], "d", progress=False)


def keys(store: Store, run_id: str) -> pl.DataFrame:
    return store.sql(
        "SELECT request_id, arm, sample, count(*) AS n FROM responses WHERE run_id = ? GROUP BY ALL", [run_id]
    )


def test_every_request_gets_one_response_per_arm(store: Store, tmp_path: Path) -> None:
    dataset(store, tmp_path, simple_records(120))
    summary = replay(config(), store=store, progress=False)
    assert summary.status == "completed" and summary.n_planned == 360 == summary.n_done
    k = keys(store, summary.run_id)
    assert k.height == 360 and k["n"].max() == 1
    assert sorted(k["arm"].unique().to_list()) == ["candidate", "prod", "prod_repeat"]
    rows = store.responses(summary.run_id)
    first = rows.row(0, named=True)
    # gpt-4.1 at $2 / $8 per 1M tokens: 1000 in, 100 out
    assert first["cost_usd"] == pytest.approx(1000 * 2 / 1e6 + 100 * 8 / 1e6)
    assert first["latency_ms"] > 0 and first["attempts"] == 1 and first["error_type"] is None
    assert json.loads(first["tool_calls"]) == [{"name": "lookup", "arguments": {"i": 0}}]
    assert store.run(summary.run_id)["status"] == "completed"


def test_prod_repeat_fraction_and_repeats(store: Store, tmp_path: Path) -> None:
    records = simple_records(200)
    dataset(store, tmp_path, records)
    summary = replay(config(prod_repeat_fraction=0.3, repeats=2, seed=11), store=store, progress=False)
    selected = {r["request_id"] for r in records if repeat_selected(11, r["request_id"], 0.3)}
    assert 30 < len(selected) < 90
    assert summary.n_planned == (2 * 200 + len(selected)) * 2 == summary.n_done
    rows = store.responses(summary.run_id)
    assert set(rows.filter(pl.col("arm") == "prod_repeat")["request_id"].to_list()) == selected
    assert sorted(rows["sample"].unique().to_list()) == [0, 1]
    assert keys(store, summary.run_id)["n"].max() == 1


def test_failures_are_recorded_and_the_run_goes_on(store: Store, tmp_path: Path) -> None:
    records = simple_records(30)
    records[3]["metadata"]["behaviour"] = "fail"
    records[4]["metadata"]["behaviour"] = "garbage"
    records[5]["metadata"]["behaviour"] = "tools:5"
    records[6]["metadata"]["behaviour"] = "sleep:2"
    dataset(store, tmp_path, records)
    summary = replay(config(max_tool_calls=3, timeout_s=0.3, max_attempts=2, backoff_base_s=0.01),
                     store=store, progress=False)
    assert summary.status == "completed" and summary.n_done == 90
    prod = store.responses(summary.run_id, arm="prod")
    by_id = {r["request_id"]: r for r in prod.iter_rows(named=True)}
    assert by_id["r3"]["error_type"] == "agent_error" and "fell over" in by_id["r3"]["error_message"]
    assert by_id["r3"]["attempts"] == 1  # an agent's own error is not retried
    assert by_id["r4"]["error_type"] == "bad_response"
    assert by_id["r5"]["error_type"] == "max_tool_calls" and by_id["r5"]["n_tool_calls"] == 5
    assert by_id["r6"]["error_type"] == "timeout" and by_id["r6"]["attempts"] == 2
    assert by_id["r0"]["error_type"] is None


def test_budget_stops_scheduling_and_a_raised_budget_resumes(store: Store, tmp_path: Path) -> None:
    dataset(store, tmp_path, simple_records(200))
    per_call = 1000 * 2 / 1e6 + 100 * 8 / 1e6  # every call costs the same
    budget = per_call * 100.5
    first = replay(config(budget_usd=budget), store=store, progress=False)
    assert first.status == "budget_exhausted"
    assert first.spend_usd <= budget + 8 * per_call  # at most the in-flight calls' cost over
    # a call starts only while the spend plus the calls in flight (8) stays within the budget
    assert abs(first.n_done - 100) <= 9 and first.spend_usd == pytest.approx(first.n_done * per_call)
    assert "budget" in store.run(first.run_id)["message"]
    again = replay(config(budget_usd=budget), store=store, run_id=first.run_id, progress=False)
    assert again.status == "budget_exhausted" and again.n_new == 0
    done = replay(config(budget_usd=10.0), store=store, run_id=first.run_id, progress=False)
    assert done.status == "completed" and done.n_done == 600
    assert keys(store, first.run_id)["n"].max() == 1


def test_completed_run_is_a_no_op_and_plan_changes_are_refused(store: Store, tmp_path: Path) -> None:
    dataset(store, tmp_path, simple_records(20))
    first = replay(config(), store=store, progress=False)
    again = replay(config(concurrency=2), store=store, run_id=first.run_id, progress=False)
    assert again.n_new == 0 and "already completed" in again.message
    with pytest.raises(ReplayError, match="repeats"):
        replay(config(repeats=2), store=store, run_id=first.run_id, progress=False)


def test_captured_variants_replay_without_calls(store: Store, tmp_path: Path) -> None:
    records = [
        {"request_id": f"c{i}", "input": f"q{i}", "captured": [
            {"variant": "prod", "output": f"prod {i}", "latency_ms": 100 + i, "cost_usd": 0.01, "model": "m1"},
            {"variant": "canary", "output": f"canary {i}", "latency_ms": 200 + i,
             "usage": {"input_tokens": 1000, "output_tokens": 100}, "model": "gpt-4.1"}]}
        for i in range(10)
    ]  # fmt: skip
    dataset(store, tmp_path, records)
    cfg = parse_config({
        "replay": {"dataset": "d", "prod_repeat_fraction": 0},
        "agents": {"prod": {"kind": "captured", "variant": "prod"},
                   "candidate": {"kind": "captured", "variant": "canary"}},
    })  # fmt: skip
    summary = replay(cfg, store=store, progress=False)
    assert summary.status == "completed" and summary.n_done == 20
    rows = {(r["request_id"], r["arm"]): r for r in store.responses(summary.run_id).iter_rows(named=True)}
    assert rows[("c3", "prod")]["output"] == "prod 3" and rows[("c3", "prod")]["latency_ms"] == 103
    assert rows[("c3", "prod")]["cost_usd"] == 0.01
    assert rows[("c3", "candidate")]["latency_ms"] == 203
    assert rows[("c3", "candidate")]["cost_usd"] == pytest.approx(0.0028)  # from the price table


def test_unknown_dataset_and_missing_arms(store: Store, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no dataset named 'd'"):
        replay(config(), store=store, progress=False)
    with pytest.raises(ReplayError, match=r"\[agents.candidate\]"):
        replay(parse_config({"replay": {"dataset": "d"}, "agents": {"prod": {"kind": "captured"}}}),
               store=store, progress=False)


def test_a_call_cancelled_by_a_stop_records_the_attempts_it_made(store: Store, tmp_path: Path) -> None:
    """Regression: a call cancelled after the drain grace was always recorded with one attempt."""
    records = simple_records(40)
    for i, r in enumerate(records):
        r["metadata"]["behaviour"] = "pay" if i % 2 else "hang"
    dataset(store, tmp_path, records)
    cfg = parse_config({
        "replay": {"dataset": "d", "concurrency": 8, "prod_repeat_fraction": 0, "budget_usd": 0.05,
                   "drain_grace_s": 0.2, "max_attempts": 4, "backoff_base_s": 0.01, "flush_interval_s": 0.05},
        "agents": {"prod": {"kind": "python", "callable": "tests.sample_agents:retry_then_hang"},
                   "candidate": {"kind": "python", "callable": "tests.sample_agents:agent"}},
    })  # fmt: skip
    summary = replay(cfg, store=store, progress=False)
    assert summary.status == "budget_exhausted"
    cancelled = store.sql("SELECT attempts FROM responses WHERE error_type = 'cancelled'")["attempts"].to_list()
    assert cancelled and set(cancelled) == {3}


def _other_process_opens(path: Path) -> bool:
    """True when another process can open the store's file for writing right now."""
    code = "import sys, duckdb\ntry:\n    duckdb.connect(sys.argv[1]).close()\nexcept duckdb.IOException:\n    sys.exit(3)"
    return subprocess.run([sys.executable, "-c", code, str(path)], check=False).returncode == 0


def test_a_held_store_answers_on_one_connection_and_lets_the_file_go_after(store: Store, tmp_path: Path) -> None:
    dataset(store, tmp_path, simple_records(3))
    assert _other_process_opens(store.path)
    seen: list[int] = []
    with store.held():
        assert not _other_process_opens(store.path)  # the file stays taken between the calls
        assert store.dataset("d")["n_requests"] == 3
        with pytest.raises(StoreError, match="no_such_table"):
            store.sql("SELECT * FROM no_such_table")
        with store.held():  # nested: the same connection
            assert store.dataset("d")["n_requests"] == 3
        other = threading.Thread(target=lambda: seen.append(len(store.first_requests("d", 2))))
        other.start()
        other.join()  # another thread takes a connection of its own
    assert seen == [2]
    assert _other_process_opens(store.path)


def test_the_first_chunk_of_a_replay_is_small_the_others_full(store: Store, tmp_path: Path) -> None:
    dataset(store, tmp_path, simple_records(10))
    sizes = [len(chunk) for chunk, _ in store.pending_chunks("no-run-yet", "d", 4, first_size=2)]
    assert sizes == [2, 4, 4]
    assert [len(chunk) for chunk, _ in store.pending_chunks("no-run-yet", "d", 4)] == [4, 4, 2]


def test_the_client_libraries_of_the_configured_kinds_are_imported_ahead() -> None:
    code = ("import sys\nfrom harness.agents import import_libraries\n"
            "import_libraries(['python', 'captured', 'no-such-kind'])\nbefore = 'aiohttp' in sys.modules\n"
            "import_libraries(['http'])\nprint(before, 'aiohttp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_a_client_library_that_fails_to_import_fails_the_run(store: Store, tmp_path: Path) -> None:
    """aiohttp broken (its import raises, as a bad install can): the replay exits with an error and
    its run is marked failed with the reason, not left `running`."""
    dataset(store, tmp_path, simple_records(3))
    broken = tmp_path / "broken" / "aiohttp"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise RuntimeError('aiohttp is broken here')\n")
    (tmp_path / "harness.toml").write_text(
        f'db = "{store.path}"\n[replay]\ndataset = "d"\nprod_repeat_fraction = 0.0\n'
        '[agents.prod]\nkind = "http"\nurl = "http://127.0.0.1:9/answer"\n'
        '[agents.candidate]\nkind = "http"\nurl = "http://127.0.0.1:9/answer"\n')
    out = subprocess.run([sys.executable, "-m", "harness", "replay", "--config", str(tmp_path / "harness.toml"),
                          "--run-id", "broken"], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(broken.parent)})
    assert out.returncode != 0 and "aiohttp is broken here" in out.stdout + out.stderr
    run = store.sql("SELECT status, message FROM runs WHERE run_id = 'broken'").row(0, named=True)
    assert run["status"] == "failed" and "RuntimeError: aiohttp is broken here" in run["message"]
