"""Latency and cost statistics come from successful answers; the error checks carry the errors."""

from __future__ import annotations

from pathlib import Path

from harness.config import parse_config
from harness.gates import gate_run
from harness.ingest import ingest
from harness.replay import replay
from harness.store import Store
from tests.conftest import simple_records, write_jsonl


def test_a_candidate_failing_every_call_gets_no_latency_verdict_only_error_ones(tmp_path: Path) -> None:
    """Regression: 'latency_p99 pass 5 ms' and 'p50 ratio 0.01x' when every candidate call failed at once."""
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", simple_records(40))], "d", progress=False)
    config = parse_config({"replay": {"dataset": "d", "prod_repeat_fraction": 0, "max_attempts": 1},
                           "agents": {"prod": {"kind": "python", "callable": "tests.sample_agents:agent"},
                                      "candidate": {"kind": "python", "callable": "tests.sample_agents:down"}}})
    run_id = replay(config, store=store, progress=False).run_id
    summary = {row["arm"]: row for row in store.arm_summary(run_id).iter_rows(named=True)}
    assert summary["candidate"]["errors"] == 40 and summary["candidate"]["p99_ms"] is None
    assert summary["prod"]["p99_ms"] is not None
    checks = {c.check_name: c for c in gate_run(store, run_id).checks}
    assert checks["error_rate"].status == "fail"
    for name in ("latency_p99", "latency_p50_ratio", "latency_p95_ratio", "latency_p99_ratio"):
        assert checks[name].status != "pass", (name, checks[name].status, checks[name].value)
    histogram = store.latency_histogram(run_id)
    assert set(histogram["arm"].to_list()) == {"prod"}  # errored calls are not drawn as latencies
