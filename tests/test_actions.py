"""Action-level evidence: the action scorers, the action checks and findings, on captured
comparisons of tool-using agents with reference actions and no judge."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from harness.config import HarnessConfig, parse_config
from harness.gates import gate_run
from harness.gates.run import GateReport
from harness.ingest import ingest
from harness.replay import replay
from harness.scoring import Embedder, score_run
from harness.store import Store
from tests.conftest import write_jsonl
from tests.procs import run_harness
from tests.tool_logs import tool_log


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def compare(store: Store, log: Path, embedder: Embedder, *, extra: dict | None = None) -> tuple[str, GateReport]:
    """Ingest a captured log and compare cand with prod (prod_b as prod's repeat), as `harness compare` does."""
    ingest(store, [log], "d", progress=False)
    config = parse_config({"replay": {"dataset": "d"}, "agents": {
        "prod": {"kind": "captured", "variant": "prod"}, "prod_repeat": {"kind": "captured", "variant": "prod_b"},
        "candidate": {"kind": "captured", "variant": "cand"}}, **(extra or {})})  # fmt: skip
    run_id = replay(config, store=store, progress=False).run_id
    score_run(store, run_id, tools=config.tools, embedder=embedder, progress=False)
    return run_id, gate_run(store, run_id, config.gates)


def scores_of(store: Store, run_id: str, scorer: str) -> dict[tuple[str, str], float]:
    return {(r, a): v for r, a, v in store.scores(run_id, scorer).select("request_id", "arm_a", "value").iter_rows()}


def test_action_scorers_compare_write_actions_with_the_reference_and_with_prod(
        tmp_path: Path, embedder: Embedder) -> None:
    store = Store(tmp_path / "h.duckdb")
    # t1: a booking with wrong arguments; t2: the baggage update never made; t3: an "info" task
    # (nothing should change) where the candidate cancels a reservation
    run_id, _ = compare(store, tool_log(tmp_path / "log.jsonl", 40, fails={"cand": {1, 2, 3}}), embedder)
    match, f1 = scores_of(store, run_id, "action_match"), scores_of(store, run_id, "action_f1")
    changed = scores_of(store, run_id, "action_changed")
    # t0 makes the reference's cancellation written differently (key order): still the same action
    assert match[("t0", "candidate")] == 1.0 and changed[("t0", "candidate")] == 0.0
    # t2 (bags "2" against 2, keys reversed) matches for prod; the candidate made nothing
    assert match[("t2", "prod")] == 1.0 and match[("t2", "candidate")] == 0.0
    for task in ("t1", "t2", "t3"):
        assert match[(task, "candidate")] == 0.0 and f1[(task, "candidate")] == 0.0
        assert changed[(task, "candidate")] == 1.0 and changed[(task, "prod_repeat")] == 0.0
    # a reference with `tool_calls: []` (the info tasks) is scored: changing nothing is the success
    assert match[("t7", "prod")] == 1.0 and f1[("t7", "prod")] == 1.0
    # read calls vary from run to run, so the tool set changes though the actions do not
    assert scores_of(store, run_id, "tool_set_changed").get(("t0", "prod_repeat")) is not None
    classes = {t: c for t, c, _ in store.tool_classes(run_id).iter_rows()}
    assert classes["book_reservation"] == "write" and classes["get_user_details"] == "read"
    details = json.loads(store.scores(run_id, "action_changed").filter(
        (pl.col("request_id") == "t2") & (pl.col("arm_a") == "candidate"))["details"][0])
    assert details["dropped"] == {"update_reservation_baggages": 1}


def test_a_reference_without_tool_calls_gets_no_action_score(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(tmp_path / "h.duckdb")
    records = [{"request_id": f"q{i}", "input": "hello", "reference": "Hello!" if i % 2 else {"output": "Hi"},
                "captured": [{"variant": v, "output": "Hi", "tool_calls": [{"name": "send_email", "arguments": {}}]}
                             for v in ("prod", "prod_b", "cand")]} for i in range(4)]
    run_id, report = compare(store, write_jsonl(tmp_path / "log.jsonl", records), embedder)
    assert store.scores(run_id, "action_match").is_empty() and store.scores(run_id, "action_f1").is_empty()
    task = next(c for c in report.checks if c.check_name == "task_success_delta")
    assert task.status == "skipped" and "reference with tool_calls" in task.sentence


def test_a_a_comparison_of_tool_agents_with_minutes_of_latency_proceeds(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(tmp_path / "h.duckdb")
    same = set(range(0, 200, 10))  # every variant fails the same tasks: the same agent
    run_id, report = compare(store, tool_log(tmp_path / "log.jsonl", 200, fails=dict.fromkeys(("prod", "prod_b", "cand"), same)), embedder)
    statuses = {c.check_name: c.status for c in report.checks}
    assert report.verdict == "proceed", report.reasons
    assert statuses["latency_p99"] == "fail_prod_too" and statuses["task_success_delta"] == "pass"
    assert statuses["action_f1_delta"] == "pass" and statuses["quality"] == "pass"
    assert any("prod breaks this limit as well" in r for r in report.reasons)
    quality = next(c for c in report.checks if c.check_name == "quality")
    assert quality.source == "action_f1" and "evidence order: LLM judge, then reference actions" in quality.sentence
    similarity = next(c for c in report.checks if c.check_name == "similarity_vs_noise")
    assert similarity.status == "skipped" and "stands in for quality" in similarity.sentence
    assert report.reasons[0].startswith("Proceed: ") and "checks pass" in report.reasons[0]


def test_a_less_successful_candidate_fails_task_success_with_a_readable_reason(tmp_path: Path) -> None:
    fails = {"prod": set(range(0, 200, 10)), "prod_b": set(range(0, 200, 10)),
             "cand": set(range(0, 200, 10)) | {i for i in range(200) if i % 4 == 0}}
    log = tool_log(tmp_path / "log.jsonl", 200, fails=fails)
    db = str(tmp_path / "h.duckdb")
    assert run_harness("ingest", str(log), "--name", "d", "--db", db).returncode == 0
    result = run_harness("compare", "--dataset", "d", "--candidate", "cand", "--prod-repeat", "prod_b", "--db", db,
                         cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "task_success_delta (critical) fails: candidate task success" in result.stdout
    # the cancellations are the tasks the candidate now gets wrong: a finding names the tool
    assert "Candidate makes the expected cancel_reservation on" in result.stdout
    verdict = Store(db, read_only=True).verdict(Store(db, read_only=True).runs()["run_id"][0])
    assert verdict is not None and verdict["findings"][0]["tool"] == "cancel_reservation"


def test_the_tools_section_changes_what_counts_as_an_action(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(tmp_path / "h.duckdb")
    log = tool_log(tmp_path / "log.jsonl", 20, fails={"cand": {1}})
    # declare the booking a read tool: the wrong booking on t1 is no longer a wrong action
    run_id, _ = compare(store, log, embedder, extra={"tools": {"read": ["book_*"]}})
    assert scores_of(store, run_id, "action_match")[("t1", "candidate")] == 1.0
    assert dict(store.tool_classes(run_id).select("tool", "rule").iter_rows())["book_reservation"] == "read list: book_*"
    assert HarnessConfig().tools.classifier().is_write("book_reservation")
