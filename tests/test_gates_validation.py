"""Validation on seeded synthetic runs: A/A stays within the error level, planted regressions
are detected at about the rate the power calculation predicts. bench/validate_gates.py runs
the long version."""

from __future__ import annotations

from harness.config import GatesConfig
from harness.gates.simulate import (
    Effects,
    detection_rate,
    false_failure_rate,
    predicted_error_rate_power,
    predicted_segment_power,
)

SETTINGS = GatesConfig(n_bootstrap=400)


def test_a_a_fails_a_critical_check_at_most_at_the_error_level() -> None:
    rate = false_failure_rate(range(30), SETTINGS)
    assert rate <= SETTINGS.alpha


def test_error_rate_increase_is_detected_as_predicted() -> None:
    add = 0.04  # 2% -> 6% on 1,200 requests; error_rate_diff allows +2 points
    predicted = predicted_error_rate_power(add, base=0.02, n=1200, margin=0.02, alpha=SETTINGS.alpha)
    observed = detection_rate(Effects(error_rate_add=add), "error_rate_diff", range(40), SETTINGS)
    assert 0.5 < predicted < 0.9  # a size where power is neither trivial nor certain
    assert abs(observed - predicted) <= 0.15
    assert detection_rate(Effects(), "error_rate_diff", range(40), SETTINGS) <= SETTINGS.alpha


def test_quality_drop_on_one_segment_is_flagged_as_predicted() -> None:
    drop = 0.053  # quality_delta allows 0.05
    predicted = predicted_segment_power(drop, n_segment=1200 / 4, margin=0.05)
    observed = detection_rate(Effects(quality_drop=drop, quality_drop_intent="refund_request"), "quality_delta",
                              range(40), SETTINGS, segment="intent=refund_request")
    assert 0.5 < predicted < 0.95
    assert abs(observed - predicted) <= 0.15
    assert detection_rate(Effects(), "quality_delta", range(20), SETTINGS, segment="intent=refund_request") == 0


def test_heavier_latency_tail_is_caught_and_a_a_is_not() -> None:
    tail = Effects(latency_tail_share=0.05, latency_tail_factor=8)  # 5% of calls 8x slower
    assert detection_rate(tail, "latency_p99_ratio", range(20), SETTINGS) >= 0.9
    assert detection_rate(Effects(), "latency_p99_ratio", range(20), SETTINGS) <= SETTINGS.alpha


def test_tool_using_agents_a_a_proceeds_new_wording_too_and_less_success_is_caught() -> None:
    from harness.gates.simulate_actions import Agent, expected_effect, predicted_power, run_many

    def critical_fail(report) -> bool:  # noqa: ANN001
        return any(c.severity == "critical" and c.status == "fail" for c in report.checks)

    aa = run_many(Agent(), range(4), SETTINGS)
    assert not any(critical_fail(r) for r in aa)
    assert sum(r.verdict == "proceed" for r in aa) >= 3
    assert all(next(c for c in r.checks if c.check_name == "latency_p99").status == "fail_prod_too" for r in aa)
    reworded = run_many(Agent(rewording=0.15), range(4), SETTINGS)
    assert sum(r.verdict == "proceed" for r in reworded) >= 3
    drop = run_many(Agent(success_shift=-0.10, cost_factor=0.5), range(20), SETTINGS, segments=False,
                    only={"task_success_delta"})
    observed = sum(r.checks[0].status == "fail" for r in drop) / len(drop)
    halfwidth = sum((r.checks[0].ci_high - r.checks[0].ci_low) / 2 for r in drop) / len(drop)
    predicted = predicted_power(-expected_effect(-0.10), 0.05, halfwidth, SETTINGS.alpha)
    assert predicted > 0.8 and abs(observed - predicted) <= 0.15
