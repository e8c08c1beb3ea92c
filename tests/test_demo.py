"""`harness demo` end to end, as a user runs it: log, config, DuckDB file and report land in the workdir."""

from __future__ import annotations

import json
from pathlib import Path

from harness.store import Store
from tests.procs import run_harness


def test_demo_end_to_end(tmp_path: Path) -> None:
    result = run_harness("demo", "--workdir", str(tmp_path), HARNESS_DEMO_LATENCY_SCALE="0.3", timeout=240)
    assert result.returncode == 0, result.stderr
    for name in ("demo_support_log.jsonl", "harness.toml", "harness.duckdb"):
        assert (tmp_path / name).exists()
        assert str(tmp_path / name) in result.stdout
    store = Store(tmp_path / "harness.duckdb", read_only=True)
    run = store.runs().row(0, named=True)
    assert run["status"] == "completed" and run["dataset"] == "demo-support"
    assert run["n_responses"] == run["n_planned"] == 3 * 1200
    arms = {r["arm"]: r for r in store.arm_summary(run["run_id"]).iter_rows(named=True)}
    assert set(arms) == {"prod", "prod_repeat", "candidate"}
    # the planted differences are visible in the raw figures already
    assert arms["candidate"]["mean_cost_usd"] < 0.5 * arms["prod"]["mean_cost_usd"]
    assert arms["candidate"]["p99_ms"] > arms["prod"]["p99_ms"]
    report = tmp_path / "reports" / f"{run['run_id']}.html"
    assert report.exists() and "candidate" in report.read_text(encoding="utf-8")
    config = store.run(run["run_id"])["config"]
    assert config["agents"]["candidate"]["callable"] == "harness.demo.agents:candidate_v2"
    # a second demo reuses the identical dataset and adds a run
    again = run_harness("demo", "--workdir", str(tmp_path), HARNESS_DEMO_LATENCY_SCALE="0.1", timeout=240)
    assert again.returncode == 0, again.stderr
    assert store.runs().height == 2 and store.datasets().height == 1
    assert json.loads(store.datasets()["sources"][0]) == [str(tmp_path / "demo_support_log.jsonl")]
