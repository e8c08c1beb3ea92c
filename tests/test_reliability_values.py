"""One bad value must not cost a run, and never a false proceed (issue 11, items 1, 2, 3, 6, 7, 14)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import polars as pl
import pytest

from harness.config import parse_config
from harness.errors import IncompleteRunError
from harness.gates import gate_run
from harness.ingest import ingest
from harness.replay import replay
from harness.report import write_report
from harness.scoring import Embedder, score_run
from harness.store import Store
from tests.conftest import simple_records, write_jsonl
from tests.procs import REPO, harness_cmd, harness_env, run_harness


def _config(candidate: str, **replay_options: object) -> object:
    return parse_config({"replay": {"dataset": "d", "max_attempts": 1, **replay_options}, "agents": {
        "prod": {"kind": "python", "callable": "tests.sample_agents:agent"},
        "candidate": {"kind": "python", "callable": candidate}}})  # fmt: skip


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_an_agent_that_types_its_own_errors_cancelled_does_not_hide_them(store: Store, tmp_path: Path,
                                                                      embedder: Embedder) -> None:
    ingest(store, [write_jsonl(tmp_path / "l.jsonl", simple_records(100))], "d", progress=False)
    config = _config("tests.hostile_agents:says_cancelled", prod_repeat_fraction=0.0)
    run_id = replay(config, store=store, progress=False).run_id
    rows = store.responses(run_id, "candidate")
    assert rows.filter(pl.col("error_type") == "cancelled").height == 34
    assert not rows["harness_cancelled"].any()  # the agent said so, the harness did not cancel anything
    score_run(store, run_id, embedder=embedder, progress=False)
    report = gate_run(store, run_id, config.gates)
    assert report.verdict == "rollback"
    assert {c.check_name: c.status for c in report.checks}["error_rate"] == "fail"
    # a resume keeps them: only the harness's own cancellations are redone
    assert replay(config, store=store, run_id=run_id, progress=False).status == "completed"
    assert store.responses(run_id, "candidate").filter(pl.col("error_type") == "cancelled").height == 34


def test_answers_that_once_broke_the_run_are_recorded_one_by_one(store: Store, tmp_path: Path) -> None:
    ingest(store, [write_jsonl(tmp_path / "l.jsonl", simple_records(60))], "d", progress=False)
    summary = replay(_config("tests.hostile_agents:hostile", prod_repeat_fraction=0.0), store=store, progress=False)
    assert summary.status == "completed" and summary.n_done == 120
    rows = {r["request_id"]: r for r in store.responses(summary.run_id, "candidate").iter_rows(named=True)}
    assert len(rows) == 60
    huge = rows["r1"]  # absurd token counts: the answer stands, the numbers are not believed
    assert huge["error_type"] is None and huge["input_tokens"] is None and huge["output_tokens"] is None
    assert set(json.loads(huge["invalid_values"])) == {"usage.input_tokens", "usage.output_tokens"}
    surrogate = rows["r2"]
    assert surrogate["error_type"] == "bad_response" and "not valid Unicode" in surrogate["error_message"]
    deep = rows["r3"]
    assert deep["error_type"] == "bad_response" and "nested too deep" in deep["error_message"]
    plain = rows["r4"]  # plain mappings as tool calls are converted, not fatal
    assert plain["error_type"] is None and json.loads(plain["tool_calls"])[0]["name"] == "lookup"
    negative = rows["r5"]
    assert negative["cost_usd"] is None and "negative" in json.loads(negative["invalid_values"])["cost_usd"]
    assert rows["r0"]["error_type"] is None and rows["r0"]["output"] == "fine r0"
    summary_arms = {r["arm"]: r for r in store.arm_summary(summary.run_id).iter_rows(named=True)}
    assert summary_arms["candidate"]["invalid"] == 20


def test_a_negative_cost_never_disables_the_budget(store: Store, tmp_path: Path) -> None:
    ingest(store, [write_jsonl(tmp_path / "l.jsonl", simple_records(300))], "d", progress=False)
    config = parse_config({"replay": {"dataset": "d", "budget_usd": 0.05, "concurrency": 4, "drain_grace_s": 5,
                                      "prod_repeat_fraction": 0.0}, "agents": {
        "prod": {"kind": "python", "callable": "tests.hostile_agents:negative_cost"},
        "candidate": {"kind": "python", "callable": "tests.hostile_agents:negative_cost"}}})  # fmt: skip
    summary = replay(config, store=store, progress=False)
    assert summary.status == "budget_exhausted" and summary.n_done < 600
    spent = store.sql("SELECT sum(cost_usd) AS s FROM responses WHERE run_id = ?", [summary.run_id])["s"][0]
    assert spent <= 0.05 + 4 * 0.01 + 1e-9  # the budget plus what was in flight, never -832x
    assert store.sql("SELECT count(*) AS n FROM responses WHERE cost_usd < 0")["n"][0] == 0


def test_an_incomplete_run_is_not_gated_without_asking(store: Store, tmp_path: Path, embedder: Embedder) -> None:
    ingest(store, [write_jsonl(tmp_path / "l.jsonl", simple_records(300))], "d", progress=False)
    config = parse_config({"replay": {"dataset": "d", "budget_usd": 0.02, "concurrency": 2, "prod_repeat_fraction": 0.0},
                           "agents": {"prod": {"kind": "python", "callable": "tests.sample_agents:costly"},
                                      "candidate": {"kind": "python", "callable": "tests.sample_agents:costly"}}})
    summary = replay(config, store=store, progress=False)
    assert summary.status == "budget_exhausted"
    score_run(store, summary.run_id, embedder=embedder, progress=False)
    with pytest.raises(IncompleteRunError, match=r"budget_exhausted.* of 600 planned responses"):
        gate_run(store, summary.run_id, config.gates)
    report = gate_run(store, summary.run_id, config.gates, allow_incomplete=True)
    assert report.verdict in ("pause_and_investigate", "rollback")
    assert "incomplete" in report.reasons[1] and "of 600 planned responses" in report.reasons[1]
    for command in (["gate", summary.run_id], ["report", summary.run_id, "-o", str(tmp_path / "r.html")]):
        result = run_harness(*command, "--db", str(store.path))
        assert result.returncode == 1 and "--allow-incomplete" in result.stderr, result.stderr
    result = run_harness("gate", summary.run_id, "--allow-incomplete", "--db", str(store.path))
    assert result.returncode in (3, 4) and "incomplete" in result.stdout
    with pytest.raises(IncompleteRunError):
        write_report(store, summary.run_id, tmp_path / "x.html")


def test_a_captured_log_with_bad_numbers_and_cancelled_errors_is_no_proceed(store: Store, tmp_path: Path,
                                                                           embedder: Embedder) -> None:
    records = []
    for i in range(100):
        candidate: dict[str, object] = {"variant": "cand", "output": "Shipped Monday.", "latency_ms": 210.0,
                                        "cost_usd": 0.002}
        if i % 10 == 0:
            candidate["latency_ms"] = "Infinity"
        if i % 10 == 1:
            candidate["cost_usd"] = -5
        if i % 10 in (2, 3, 4):
            candidate |= {"output": None, "error": {"type": "cancelled", "message": "gateway cancelled"}}
        records.append({"request_id": f"q{i}", "input": f"where is {i}?", "user_id": f"u{i % 30}", "captured": [
            {"variant": "prod", "output": "Shipped Monday.", "latency_ms": 200.0, "cost_usd": 0.002}, candidate]})
    ingest(store, [write_jsonl(tmp_path / "l.jsonl", records)], "d", progress=False)
    config = parse_config({"replay": {"dataset": "d", "prod_repeat_fraction": 0.0}, "agents": {
        "prod": {"kind": "captured", "variant": "prod"}, "candidate": {"kind": "captured", "variant": "cand"}}})
    run_id = replay(config, store=store, progress=False).run_id
    score_run(store, run_id, embedder=embedder, progress=False)
    report = gate_run(store, run_id, config.gates)
    statuses = {c.check_name: c for c in report.checks}
    assert report.verdict == "rollback" and statuses["error_rate"].status == "fail"
    assert "10 of 100 candidate answers reported an invalid latency" in statuses["latency_p99"].sentence
    assert "reported an invalid one" in statuses["cost"].sentence
    path = write_report(store, run_id, tmp_path / "r.html")  # once crashed on infinite chart ticks
    assert "Roll back" in path.read_text(encoding="utf-8")


def test_two_replays_of_one_new_run_id_at_once_give_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    Store(db)
    ingest(Store(db), [write_jsonl(tmp_path / "l.jsonl", simple_records(40))], "d", progress=False)
    config = tmp_path / "h.toml"
    config.write_text('[replay]\ndataset = "d"\n[agents.prod]\nkind = "python"\ncallable = "tests.sample_agents:agent"\n'
                      '[agents.candidate]\nkind = "python"\ncallable = "tests.sample_agents:agent"\n')
    for trial in range(3):
        args = harness_cmd("replay", "-c", str(config), "--run-id", f"same-{trial}", "--db", str(db))
        procs = [subprocess.Popen(args, cwd=REPO, env=harness_env(SAMPLE_AGENT_DELAY="0.05"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
        codes = sorted(code for code, _ in results)
        assert codes in ([0, 0], [0, 1]), results
        for code, stderr in results:
            assert "Traceback" not in stderr and "Exception" not in stderr, stderr
            if code == 1:
                assert f"run same-{trial} is already running" in stderr
