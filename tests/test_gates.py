"""Gates: the status rule, noise-aware margins, sanity, segments, the verdict, config and the CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.config import CheckConfig, GatesConfig, parse_config
from harness.errors import ConfigError
from harness.gates.catalogue import default_checks, resolve_checks
from harness.gates.evaluate import evaluate
from harness.gates.run import evaluate_gates
from harness.gates.simulate import Effects, simulate_inputs

FAST = GatesConfig(n_bootstrap=500)


def test_status_rule_absolute_checks() -> None:
    spec = default_checks()["error_rate"]  # candidate error rate <= 5%
    clean = simulate_inputs(seed=1, base_error_rate=0.0)
    assert evaluate(spec, clean, FAST).status == "pass"
    broken = simulate_inputs(seed=1, base_error_rate=0.0, effects=Effects(error_rate_add=0.12))
    result = evaluate(spec, broken, FAST)
    assert result.status == "fail" and result.ci_low > 0.05
    borderline = simulate_inputs(n_requests=300, seed=2, base_error_rate=0.0, effects=Effects(error_rate_add=0.05))
    result = evaluate(spec, borderline, FAST)
    assert result.status == "inconclusive" and result.ci_low <= 0.05 < result.ci_high
    assert result.n_needed is not None and result.n_needed > 300 and result.mde is not None
    assert "would settle it" in result.sentence
    few = evaluate(spec, simulate_inputs(n_requests=20, seed=1), FAST)
    assert few.status == "nodata" and "only 20 requests have a candidate error rate" in few.sentence
    judge = evaluate(default_checks()["judge_win_rate"], clean, FAST)
    assert judge.status == "skipped" and "no [judge]" in judge.sentence


def test_margin_is_the_larger_of_threshold_and_noise_band() -> None:
    inputs = simulate_inputs(n_requests=400, seed=3)
    spec = default_checks()["latency_p50_ratio"]  # max 1.2x
    quiet = evaluate(spec, inputs, FAST)
    assert quiet.noise_band is not None and quiet.noise_band < 0.2 and quiet.margin == pytest.approx(0.2)
    # make prod disagree with itself: prod_repeat's latency is 1.6x prod's on every request
    inputs.series[("latency_ms", "prod_repeat")] = inputs.series[("latency_ms", "prod")] * 1.6
    noisy = evaluate(spec, inputs, FAST)
    # the band is prod_repeat's estimate (0.6 from no difference), capped at twice the threshold's 0.2
    assert noisy.details["noise_band_raw"] == pytest.approx(0.6) and noisy.noise_band == pytest.approx(0.4)
    assert noisy.margin == pytest.approx(0.4)
    assert "widened to prod's own noise band" in noisy.sentence and "capped from 0.6" in noisy.sentence
    # the sanity check holds prod_repeat to the threshold alone: the measurement is broken
    report = evaluate_gates(inputs, FAST, segments=False)
    broken = [s for s in report.sanity if s.check_name == "latency_p50_ratio"]
    assert broken[0].status == "fail"
    assert report.verdict == "pause_and_investigate"
    assert any(r.startswith("The measurement is broken") for r in report.reasons)


def test_verdicts() -> None:
    # A/A with enough requests that every interval settles
    assert evaluate_gates(simulate_inputs(n_requests=4000, n_users=800, seed=5), FAST, segments=False).verdict == "proceed"
    rollback = evaluate_gates(simulate_inputs(seed=5, effects=Effects(error_rate_add=0.1)), FAST, segments=False)
    assert rollback.verdict == "rollback"
    assert rollback.reasons[0].startswith("Roll back: 2 critical checks (error_rate, error_rate_diff) failed")
    tail = Effects(latency_tail_share=0.1, latency_tail_factor=8)
    pause = evaluate_gates(simulate_inputs(seed=5, effects=tail), FAST, segments=False)
    assert pause.verdict == "pause_and_investigate"
    assert {c.check_name for c in pause.checks if c.status == "fail"} >= {"latency_p99_ratio"}
    # re-weighting: the same latency tail as a critical check rolls back
    strict = FAST.model_copy(update={"checks": {"latency_p99_ratio": CheckConfig(severity="critical")}})
    assert evaluate_gates(simulate_inputs(seed=5, effects=tail), strict, segments=False).verdict == "rollback"


def test_segments_flag_a_local_regression_with_correction() -> None:
    effects = Effects(quality_drop=0.15, quality_drop_intent="refund_request")
    for correction in ("bh", "holm"):
        settings = FAST.model_copy(update={"correction": correction})
        report = evaluate_gates(simulate_inputs(seed=6, effects=effects), settings, only={"quality_delta"})
        flagged = {(r.segment_key, r.segment_value, r.check_name) for r in report.worse_segments}
        assert flagged == {("intent", "refund_request", "quality_delta")}
        assert all(r.p_adjusted is not None and r.p_adjusted >= r.p_value for r in report.segments)
        assert any("Segment intent=refund_request" in reason for reason in report.reasons)


def test_config_adds_removes_and_validates_checks() -> None:
    config = parse_config({"gates": {"checks": {
        "tool_calls": {"enabled": False},
        "cost_absolute": {"metric": "cost_usd", "statistic": "mean", "max": 0.01, "severity": "critical"},
        "error_rate": {"max": 0.01}}}})  # fmt: skip
    specs = {s.name: s for s in resolve_checks(config.gates.checks)}
    assert "tool_calls" not in specs and specs["cost_absolute"].severity == "critical"
    assert specs["error_rate"].threshold == 0.01 and specs["error_rate"].severity == "critical"
    for bad, message in [
        ({"x": {"metric": "latency", "statistic": "p99", "max": 1}}, r"gates.checks.x.metric: unknown metric"),
        ({"x": {"metric": "latency_ms", "statistic": "p42", "max": 1}}, r"gates.checks.x.statistic"),
        ({"quality": {"max": 0.9}}, r"gates.checks.quality.max: quality is worse when lower"),
        ({"x": {"metric": "error"}}, r"gates.checks.x: a new check needs"),
        ({"cost": {"maximum": 2}}, r"gates.checks.cost.maximum: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_config({"gates": {"checks": bad}})


def test_results_are_deterministic_under_the_seed() -> None:
    a = evaluate_gates(simulate_inputs(seed=9), FAST, segments=False)
    b = evaluate_gates(simulate_inputs(seed=9), FAST, segments=False)
    assert [(c.ci_low, c.ci_high) for c in a.checks] == [(c.ci_low, c.ci_high) for c in b.checks]
    clustered = evaluate(default_checks()["quality"], simulate_inputs(seed=9), FAST)
    flat = evaluate(default_checks()["quality"], simulate_inputs(seed=9), FAST.model_copy(update={"cluster_by": "none"}))
    assert clustered.ci_low is not None and flat.ci_low is not None
    assert isinstance(replace(clustered), type(clustered)) and np.isfinite(flat.ci_high)


def test_gate_command_exit_codes_and_stored_results(tmp_path: Path) -> None:
    from harness.ingest import ingest
    from harness.replay import replay
    from harness.scoring import score_run
    from harness.store import Store
    from tests.conftest import write_jsonl
    from tests.procs import run_harness

    def run_with(candidate_error_every: int | None, name: str) -> tuple[Store, str]:
        records = []
        for i in range(150):
            fails = candidate_error_every is not None and i % candidate_error_every == 0
            answer = f"Order {i} shipped on Monday and arrives Friday."
            records.append({"request_id": f"q{i}", "input": f"where is order {i}?", "user_id": f"u{i % 40}",
                            "reference": answer, "captured": [
                                {"variant": "prod", "output": answer, "latency_ms": 200 + i % 7},
                                {"variant": "again", "output": answer, "latency_ms": 201 + i % 7},
                                {"variant": "cand", "output": None if fails else answer, "latency_ms": 199 + i % 7,
                                 "error": "boom" if fails else None}]})
        store = Store(tmp_path / f"{name}.duckdb")
        ingest(store, [write_jsonl(tmp_path / f"{name}.jsonl", records)], "d", progress=False)
        config = parse_config({"replay": {"dataset": "d"}, "agents": {
            "prod": {"kind": "captured", "variant": "prod"}, "prod_repeat": {"kind": "captured", "variant": "again"},
            "candidate": {"kind": "captured", "variant": "cand"}}})  # fmt: skip
        run_id = replay(config, store=store, progress=False).run_id
        score_run(store, run_id, progress=False)
        return store, run_id

    store, run_id = run_with(None, "same")
    result = run_harness("gate", run_id, "--db", str(store.path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: proceed" in result.stdout
    assert store.verdict(run_id)["verdict"] == "proceed"
    stored = store.gate_results(run_id)
    statuses = dict(zip(stored["check_name"].to_list(), stored["status"].to_list(), strict=True))
    assert statuses["cost"] == "nodata"  # captured outputs without usage or cost: never a guessed cost
    assert "no request has cost per request on both sides" in stored.filter(
        stored["check_name"] == "cost")["sentence"][0]
    assert {s for name, s in statuses.items() if name != "cost" and "cost" not in name} <= {"pass", "skipped"}

    store, run_id = run_with(5, "broken")  # 20% candidate errors
    result = run_harness("gate", run_id, "--db", str(store.path))
    assert result.returncode == 4 and "verdict: rollback" in result.stdout
    assert store.verdict(run_id)["reasons"][0].startswith("Roll back")

    config = tmp_path / "gates.toml"
    config.write_text("[gates.checks.error_rate]\nseverity = 'warning'\n[gates.checks.error_rate_diff]\n"
                      "severity = 'warning'\n[gates.checks.quality_delta]\nseverity = 'warning'\n"
                      "[gates.checks.quality]\nseverity = 'warning'\n")
    result = run_harness("gate", run_id, "--db", str(store.path), "--config", str(config))
    assert result.returncode == 3 and "pause_and_investigate" in result.stdout


def test_segments_use_their_own_minimum_size() -> None:
    """Regression: segments smaller than the overall min_requests were always nodata."""
    inputs = simulate_inputs(n_requests=100, n_users=40, seed=8)  # about 25 requests per intent
    settings = FAST.model_copy(update={"min_requests": 30, "min_segment_requests": 20})
    report = evaluate_gates(inputs, settings, only={"error_rate"})
    statuses = {r.segment_value: r.status for r in report.segments}
    assert statuses and all(s != "nodata" for s in statuses.values())
