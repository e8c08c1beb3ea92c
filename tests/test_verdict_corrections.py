"""Regression tests for the verdict corrections found on tool-using agents' data (issue 10, point 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.config import GatesConfig, parse_config
from harness.gates import gate_run
from harness.gates.run import evaluate_gates
from harness.gates.simulate import simulate_inputs
from harness.ingest import ingest
from harness.replay import replay
from harness.scoring import Embedder, score_run
from harness.store import Store
from tests.conftest import write_jsonl

FAST = GatesConfig(n_bootstrap=500)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def _check(report, name):  # noqa: ANN001, ANN202
    return next(c for c in report.checks if c.check_name == name)


def test_an_absolute_limit_prod_breaks_too_does_not_block_and_says_so() -> None:
    inputs = simulate_inputs(n_requests=1500, n_users=400, seed=11)
    for arm in ("prod", "prod_repeat", "candidate"):  # every conversation takes minutes
        inputs.series[("latency_ms", arm)] = inputs.series[("latency_ms", arm)] * 300
    report = evaluate_gates(inputs, FAST, segments=False)
    latency = _check(report, "latency_p99")
    assert latency.status == "fail_prod_too" and report.verdict != "rollback"
    assert "prod breaks this limit as well (the limit does not fit this workload, or prod needs attention)" \
        in latency.sentence and "not significantly worse" in latency.sentence
    assert any(r.startswith("latency_p99: prod breaks this limit as well") for r in report.reasons)
    # ... unless the candidate is significantly worse than prod on it
    inputs.series[("latency_ms", "candidate")] = inputs.series[("latency_ms", "candidate")] * 3
    worse = _check(evaluate_gates(inputs, FAST, segments=False, only={"latency_p99"}), "latency_p99")
    assert worse.status == "fail" and "the candidate is significantly worse" in worse.sentence


def test_an_absolute_limit_only_the_candidate_breaks_still_fails() -> None:
    inputs = simulate_inputs(n_requests=1200, seed=12)
    inputs.series[("latency_ms", "candidate")] = inputs.series[("latency_ms", "candidate")] * 40
    latency = _check(evaluate_gates(inputs, FAST, segments=False, only={"latency_p99"}), "latency_p99")
    assert latency.status == "fail" and latency.details["prod"]["status"] == "pass"


def test_proceed_names_the_checks_left_undecided() -> None:
    inputs = simulate_inputs(n_requests=4000, n_users=800, seed=5)
    del inputs.series[("tool_calls", "candidate")]
    report = evaluate_gates(inputs, FAST, segments=False)
    assert report.verdict == "proceed"
    assert "1 warning check (tool_calls) left undecided" in report.reasons[0]
    assert "all" not in report.reasons[0].split(":")[0]
    assert any(r.startswith("tool_calls (warning) has no verdict") for r in report.reasons)


def test_a_noise_band_from_a_few_slow_outliers_cannot_wave_a_p99_regression_through() -> None:
    inputs = simulate_inputs(n_requests=1200, seed=13)
    rng = np.random.default_rng(0)
    prod = inputs.series[("latency_ms", "prod")]
    inputs.series[("latency_ms", "prod_repeat")] = prod * np.where(rng.random(prod.size) < 0.02, 40.0, 1.0)
    inputs.series[("latency_ms", "candidate")] = prod * 4.7
    result = _check(evaluate_gates(inputs, FAST, segments=False, only={"latency_p99_ratio"}), "latency_p99_ratio")
    assert result.details["noise_band_raw"] > 3  # prod_repeat's p99 is far off because of 24 outliers
    assert result.noise_band == pytest.approx(1.0) and result.margin == pytest.approx(1.0)  # capped at 2 x 0.5
    assert result.status == "fail" and "capped from" in result.sentence


def test_a_critical_check_failing_in_a_segment_pauses_and_the_reason_names_it_first() -> None:
    inputs = simulate_inputs(n_requests=4000, n_users=800, seed=14, base_error_rate=0.01)
    rows = np.arange(inputs.n)
    enterprise = rows % 40 == 0  # 100 requests: the candidate fails half of them
    broken = enterprise & (rows % 80 == 0)
    inputs.series[("error", "candidate")] = np.where(broken, 1.0, inputs.series[("error", "candidate")])
    inputs.segments["tier"] = np.where(enterprise, "enterprise", np.where(rows % 10 < 7, "free", "pro")).astype(object)
    report = evaluate_gates(inputs, FAST, only={"error_rate_diff"})
    assert report.checks[0].status == "pass"  # +1.25 points overall is within the +2 allowed
    assert report.verdict == "pause_and_investigate"
    assert report.reasons[1].startswith("Segment tier=enterprise (100 requests): error_rate_diff (critical) fails")
    assert not any(r.segment_value == "free" for r in report.segments)  # 70% of traffic: not a segment
    assert any(r.segment_value == "pro" for r in report.segments)


def _captured(store: Store, tmp_path: Path, records: list[dict], embedder: Embedder, *,
              prod_repeat: bool = True) -> tuple[str, object]:
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records)], "d", progress=False)
    agents = {"prod": {"kind": "captured", "variant": "prod"}, "candidate": {"kind": "captured", "variant": "cand"}}
    if prod_repeat:
        agents["prod_repeat"] = {"kind": "captured", "variant": "again"}
    config = parse_config({"replay": {"dataset": "d", "prod_repeat_fraction": 1.0 if prod_repeat else 0.0},
                           "agents": agents, "gates": {"n_bootstrap": 500}})
    run_id = replay(config, store=store, progress=False).run_id
    score_run(store, run_id, embedder=embedder, progress=False)
    return run_id, gate_run(store, run_id, config.gates)


def _records(n: int, cost: dict[str, object], latency: bool = True) -> list[dict]:
    out = []
    for i in range(n):
        answer = f"Order {i} shipped on Monday and arrives Friday."
        out.append({"request_id": f"q{i}", "input": f"where is order {i}?", "user_id": f"u{i % 40}", "captured": [
            {"variant": v, "output": answer, **({"latency_ms": 200 + i % 7} if latency else {}),
             "cost_usd": c(i) if callable(c) else c} for v, c in cost.items()]})
    return out


def test_zero_or_missing_costs_are_unknown_not_free(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(tmp_path / "a.duckdb")
    _, report = _captured(store, tmp_path, _records(120, {"prod": 0.002, "again": 0.002, "cand": 0.0}), embedder)
    cost = _check(report, "cost")
    assert cost.status == "nodata" and "reported a cost of 0" in cost.sentence and "unknown, not free" in cost.sentence
    mixed = {"prod": 0.002, "again": 0.002, "cand": lambda i: 0.0 if i % 4 == 0 else 0.001}
    store = Store(tmp_path / "b.duckdb")
    _, report = _captured(store, tmp_path, _records(120, mixed), embedder)
    cost = _check(report, "cost")
    assert cost.status == "pass" and "30 reported a cost of 0" in cost.sentence


def test_the_noise_floor_is_found_from_responses_without_latencies(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(tmp_path / "h.duckdb")
    _, report = _captured(store, tmp_path, _records(60, {"prod": None, "again": None, "cand": None}, latency=False),
                          embedder)
    assert report.sanity, "prod_repeat answered, so prod's sanity checks run"
    similarity = _check(report, "similarity_vs_noise")
    assert "no prod_repeat arm" not in similarity.sentence and similarity.status == "pass"
    assert not any("No prod_repeat arm was replayed" in r for r in report.reasons)
