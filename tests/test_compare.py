"""Captured comparisons: shadow and canary logs compared without a call, scored, gated, reported."""

from __future__ import annotations

from pathlib import Path

from harness.ingest import ingest
from harness.store import Store
from tests.conftest import write_jsonl
from tests.procs import run_harness


def shadow_log(tmp_path: Path, *, shadow_fails_every: int | None) -> Path:
    """A shadow-traffic log: every request answered by prod, a second prod sample and the shadow."""
    records = []
    for i in range(120):
        answer = f"Your order {i} is on its way and arrives on Friday."
        broken = shadow_fails_every is not None and i % shadow_fails_every == 0
        records.append({
            "request_id": f"s{i}", "user_id": f"u{i % 25}", "input": f"where is order {i}?", "reference": answer,
            "metadata": {"intent": "order_status" if i % 3 else "refund_request"},
            "captured": [
                {"variant": "prod", "output": answer, "latency_ms": 300 + i % 11, "model": "gpt-4.1",
                 "usage": {"input_tokens": 700, "output_tokens": 60}},
                {"variant": "prod-b", "output": answer, "latency_ms": 302 + i % 11, "model": "gpt-4.1",
                 "usage": {"input_tokens": 700, "output_tokens": 61}},
                {"variant": "shadow", "output": None if broken else answer, "latency_ms": 280 + i % 11,
                 "model": "gpt-4.1-mini", "usage": {"input_tokens": 650, "output_tokens": 55},
                 "error": {"type": "timeout", "message": "shadow timed out"} if broken else None},
            ]})  # fmt: skip
    return write_jsonl(tmp_path / "shadow.jsonl", records)


def test_compare_shadow_log_without_calls(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    store = Store(db)
    ingest(store, [shadow_log(tmp_path, shadow_fails_every=None)], "shadow", progress=False)
    result = run_harness("compare", "--dataset", "shadow", "--candidate", "shadow", "--prod-repeat", "prod-b",
                         "--db", str(db), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = store.runs()["run_id"][0]
    plan = store.run(run_id)["plan"]
    assert {a["kind"] for a in plan["agents"].values()} == {"captured"}
    arms = {r["arm"]: r for r in store.arm_summary(run_id).iter_rows(named=True)}
    assert set(arms) == {"prod", "prod_repeat", "candidate"}
    assert arms["candidate"]["p50_ms"] < arms["prod"]["p50_ms"]  # latencies come from the log
    assert store.verdict(run_id)["verdict"] == "proceed"
    assert (tmp_path / "reports" / f"{run_id}.html").exists()


def test_compare_catches_a_failing_canary(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    store = Store(db)
    ingest(store, [shadow_log(tmp_path, shadow_fails_every=4)], "canary", progress=False)
    result = run_harness("compare", "--dataset", "canary", "--candidate", "shadow", "--db", str(db), cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    reasons = store.verdict(store.runs()["run_id"][0])["reasons"]
    assert reasons[0].startswith("Roll back") and any("no noise floor" in r for r in reasons)
