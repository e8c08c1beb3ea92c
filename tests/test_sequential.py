"""Sequential replay: waves in a seeded random order, anytime-valid looks, an early stop, and a
continuation of the stopped run to the full dataset with the same run id."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from harness.config import HarnessConfig, load_config
from harness.ingest import ingest
from harness.pipeline import release
from harness.scoring import Embedder
from harness.sequential import draw_order, waves
from harness.store import Store
from tests.conftest import write_jsonl
from tests.procs import run_harness

CONFIG = """
[replay]
dataset = "d"
concurrency = 16
wave_size = 60
prod_repeat_fraction = 0

[agents.prod]
kind = "python"
callable = "tests.sample_agents:agent"

[agents.candidate]
kind = "python"
callable = "tests.sample_agents:{candidate}"

[gates.checks.quality]
enabled = false

[gates.checks.quality_delta]
enabled = false
"""


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def setup(tmp_path: Path, candidate: str, n: int = 600) -> tuple[Store, HarnessConfig]:
    records = [{"request_id": f"r{i}", "input": f"question {i}", "user_id": f"u{i // 2}"} for i in range(n)]
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records)], "d", progress=False)
    path = tmp_path / "harness.toml"
    path.write_text(CONFIG.format(candidate=candidate), encoding="utf-8")
    config = load_config(path)
    return store, config.model_copy(update={"replay": config.replay.model_copy(update={"sequential": True})})


def test_waves_hold_whole_users_in_a_seeded_order() -> None:
    units = pl.DataFrame({"request_id": [f"r{i}" for i in range(10)], "user_id": [f"u{i % 3}" for i in range(10)],
                          "session_id": [None] * 10})
    order = draw_order(units, 1, "user_id")
    assert order == draw_order(units, 1, "user_id") and sorted(map(len, order)) == [3, 3, 4]
    assert {tuple(u) for u in order} == {("r0", "r3", "r6", "r9"), ("r1", "r4", "r7"), ("r2", "r5", "r8")}
    assert [len(w) for w in waves(order, 5)] in ([7, 3], [6, 4], [7, 3])
    assert [sorted(w) for w in waves(order, 1)] == [sorted(u) for u in order]


def test_a_big_regression_stops_early_with_rollback(tmp_path: Path, embedder: Embedder) -> None:
    store, config = setup(tmp_path, "broken")
    outcome = release(config, store=store, report_path=tmp_path / "r.html", embedder=embedder, progress=False)
    assert outcome.verdict == "rollback" and outcome.sequential is not None
    seq = outcome.sequential
    assert seq.stop_reason == "critical_fail" and seq.n_used < 600 and seq.saved_requests == 600 - seq.n_used
    run = store.run(outcome.run_id)
    assert run["status"] == "stopped_early" and f"{seq.n_used:,} of 600 requests used" in run["message"]
    looks = store.looks(outcome.run_id)
    assert len(looks) == seq.looks and looks[-1]["reason"] == "critical_fail"
    assert [lk["n_requests"] for lk in looks] == sorted(lk["n_requests"] for lk in looks)
    assert any(c["name"] == "error_rate" and c["status"] == "fail" for c in looks[-1]["checks"])
    verdict = store.verdict(outcome.run_id)
    assert any("Sequential replay stopped at look" in r for r in verdict["reasons"])


def test_a_a_comparison_does_not_false_fail(tmp_path: Path, embedder: Embedder) -> None:
    store, config = setup(tmp_path, "agent", n=300)
    outcome = release(config, store=store, report_path=tmp_path / "r.html", embedder=embedder, progress=False)
    assert outcome.verdict != "rollback" and outcome.sequential is not None
    assert all(c["status"] != "fail" for lk in store.looks(outcome.run_id) for c in lk["checks"])


def test_cli_stops_early_shows_why_and_continues_to_the_full_dataset(tmp_path: Path) -> None:
    store, _ = setup(tmp_path, "broken")
    config = str(tmp_path / "harness.toml")
    result = run_harness("run", "--config", config, "--db", str(store.path), "--sequential", cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "Sequential replay stopped at look" in result.stdout and "a critical check failed" in result.stdout
    run_id = store.runs()["run_id"][0]
    report = (tmp_path / "reports" / f"{run_id}.html").read_text(encoding="utf-8")
    assert "Sequential replay" in report and "anytime interval against requests used" in report
    shown = run_harness("show", run_id, "--db", str(store.path))
    assert "stopped_early" in shown.stdout and "requests used" in shown.stdout, shown.stdout
    used = store.run_totals(run_id)["n_requests"]
    assert used < 600
    resumed = run_harness("run", "--config", config, "--db", str(store.path), "--run-id", run_id, cwd=tmp_path)
    assert resumed.returncode == 4, resumed.stdout + resumed.stderr
    assert store.run(run_id)["status"] == "completed" and store.run_totals(run_id)["n_requests"] == 600
