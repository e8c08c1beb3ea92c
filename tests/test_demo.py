"""`harness demo` end to end, as a user runs it: log, config, DuckDB file and report land in the workdir."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.store import Store


@pytest.mark.timeout(900)
def test_demo_end_to_end(demo_db: Path, demo_cli: subprocess.CompletedProcess[str]) -> None:
    result, workdir = demo_cli, demo_db.parent
    for name in ("demo_support_log.jsonl", "harness.toml", "harness.duckdb"):
        assert (workdir / name).exists()
        assert str(workdir / name) in result.stdout
    store = Store(demo_db, read_only=True)
    run = store.runs().row(-1, named=True)  # the oldest: the one `harness demo` made as a command
    assert run["status"] == "completed" and run["dataset"] == "demo-support"
    assert run["n_responses"] == run["n_planned"] == 3 * 1200
    arms = {r["arm"]: r for r in store.arm_summary(run["run_id"]).iter_rows(named=True)}
    assert set(arms) == {"prod", "prod_repeat", "candidate"}
    # the planted differences are visible in the raw figures already
    assert arms["candidate"]["mean_cost_usd"] < 0.5 * arms["prod"]["mean_cost_usd"]
    assert arms["candidate"]["p99_ms"] > arms["prod"]["p99_ms"]
    # scored with embeddings and tool checks; no judge configured, and the summary says so
    assert "noise floor (prod_repeat vs prod)" in result.stdout
    assert "judge: not configured" in result.stdout
    by_intent = store.sql(
        """SELECT json_extract_string(q.metadata, '$.intent') AS intent, s.arm_a, avg(s.value) AS sim
           FROM scores s JOIN requests q ON q.request_id = s.request_id AND q.dataset = 'demo-support'
           WHERE s.run_id = ? AND s.scorer = 'similarity' AND s.arm_b = 'prod' GROUP BY ALL""", [run["run_id"]])
    sim = {(r["intent"], r["arm_a"]): r["sim"] for r in by_intent.iter_rows(named=True)}
    assert sim[("refund_request", "candidate")] < sim[("refund_request", "prod_repeat")] - 0.2
    assert abs(sim[("order_status", "candidate")] - sim[("order_status", "prod_repeat")]) < 0.1
    # it ends with the verdict: the missing refunds are an action-level failure and a finding per tool
    assert "verdict: rollback" in result.stdout
    assert "payments service: 0 refund requests received" in result.stdout
    verdict = store.verdict(run["run_id"])
    reasons = verdict["reasons"]
    assert any(r.startswith("task_success_delta (critical) fails") for r in reasons)
    assert any("latency_p99_ratio" in r and "fails" in r for r in reasons)
    refunds = [f for f in verdict["findings"] if f["tool"] == "issue_refund"]
    assert {f["kind"] for f in refunds} == {"expected_action", "action_change"}
    expected = next(f for f in refunds if f["kind"] == "expected_action")
    assert expected["candidate"] < 0.5 < 0.9 < expected["prod"]
    assert any(r.startswith("Candidate makes the expected issue_refund on") for r in reasons)
    report = workdir / "reports" / f"{run['run_id']}.html"
    assert report.exists() and "candidate" in report.read_text(encoding="utf-8")
    config = store.run(run["run_id"])["config"]
    assert config["agents"]["candidate"]["callable"] == "harness.demo.agents:candidate_v2"
    assert json.loads(store.datasets()["sources"][0]) == [str(workdir / "demo_support_log.jsonl")]


def test_a_second_demo_reuses_the_dataset_and_adds_a_run(demo_db: Path) -> None:
    store = Store(demo_db, read_only=True)
    assert store.datasets().height == 1 and store.runs().height == 2
    assert set(store.runs()["status"].to_list()) == {"completed"}
