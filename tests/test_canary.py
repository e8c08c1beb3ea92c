"""Canary planning: stable nested user assignment, shares of users and traffic, detectable effects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness import stats
from harness.canary import plan_canary
from harness.config import CanaryConfig, GatesConfig
from harness.ingest import ingest
from harness.store import Store
from tests.conftest import write_jsonl
from tests.procs import run_harness


def dataset(store: Store, tmp_path: Path) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    records = []
    for i in range(2000):  # 200 users, ten requests each, over 100 hours
        user = f"user-{i % 200}"
        records.append({"request_id": f"r{i}", "input": "hi", "user_id": user,
                        "timestamp": (start + timedelta(minutes=3 * i)).isoformat(),
                        "captured": {"variant": "prod", "output": "x", "error": "boom" if i % 50 == 0 else None}})
    records.append({"request_id": "anon", "input": "hi", "timestamp": start.isoformat()})
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records)], "d", progress=False)


def test_steps_are_stable_nested_and_measured(store: Store, tmp_path: Path) -> None:
    dataset(store, tmp_path)
    plan = plan_canary(store, "d", CanaryConfig(steps=[5, 20, 50, 100], duration_h=24), GatesConfig())
    assert [s.percent for s in plan.steps] == [5, 20, 50, 100]
    assert plan.units == 201 and plan.units_without_user == 1
    assert plan.requests_per_hour == pytest.approx(2001 / (3 * 1999 / 60), rel=1e-6)
    assert plan.baseline_error_rate == pytest.approx(40 / 2000) and "captured" in plan.error_rate_source
    shares = [s.user_share for s in plan.steps]
    assert shares == sorted(shares) and shares[-1] == 1.0 and 0.0 < shares[0] < 0.15
    assert plan.steps[-1].traffic_share == 1.0
    mdes = [s.mde_error_rate for s in plan.steps]
    assert mdes == sorted(mdes, reverse=True)
    # the assignment is the documented hash: a user in the canary at 5% is in at every step
    in_five = {u for u in (f"user-{k}" for k in range(200)) if stats.stable_fraction(u, "canary") < 0.05}
    assert plan.steps[0].users == len(in_five) + (stats.stable_fraction("request:anon", "canary") < 0.05)
    again = plan_canary(store, "d", CanaryConfig(steps=[5, 20, 50, 100], duration_h=24), GatesConfig())
    assert again == plan
    # a different salt draws a different cohort; a sampled log means more real traffic
    other = plan_canary(store, "d", CanaryConfig(steps=[5], salt="other", log_sample_rate=0.1), GatesConfig())
    assert other.requests_per_hour == pytest.approx(10 * plan.requests_per_hour)
    assert other.steps[0].mde_error_rate < plan.steps[0].mde_error_rate


def test_mde_matches_the_two_proportion_formula(store: Store, tmp_path: Path) -> None:
    dataset(store, tmp_path)
    plan = plan_canary(store, "d", CanaryConfig(steps=[20], duration_h=48), GatesConfig())
    step = plan.steps[0]
    expected_total = plan.requests_per_hour * 48
    n_canary, n_control = round(expected_total * step.traffic_share), round(expected_total * (1 - step.traffic_share))
    assert step.requests == n_canary and isinstance(step.requests, int)
    assert step.mde_error_rate == pytest.approx(max(
        stats.detectable_increase(plan.baseline_error_rate, n_canary),
        stats.mde_two_proportions(plan.baseline_error_rate, n_canary, n_control)))
    assert step.too_small is None


def test_zero_baseline_and_a_tiny_step_are_honest(store: Store, tmp_path: Path) -> None:
    """Regression: a 0% baseline and 6 canary requests claimed a +4-point detectable rise, from 18.3 requests."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    records = [{"request_id": f"r{i}", "input": "hi", "user_id": f"u{i % 40}",
                "timestamp": (start + timedelta(hours=i)).isoformat(),
                "captured": {"variant": "prod", "output": "ok"}} for i in range(120)]  # fmt: skip
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records)], "z", progress=False)
    plan = plan_canary(store, "z", CanaryConfig(steps=[5, 100], duration_h=24), GatesConfig())
    assert plan.baseline_error_rate == 0.0
    small, full = plan.steps
    assert all(isinstance(s.requests, int) for s in plan.steps)
    # 0 events: one error among n canary requests is already significant, so the rise detectable with 80%
    # power is 1 - 0.2**(1/n): about 24 points for 6 requests, never a few
    assert small.requests < 10 and small.too_small and "too few" in small.too_small
    assert small.mde_error_rate >= 1 - 0.2 ** (1 / max(small.requests, 1)) - 1e-9
    assert full.requests == 24 and full.mde_error_rate == pytest.approx(1 - 0.2 ** (1 / 24), rel=1e-6)
    assert full.too_small is None


def test_exact_detectable_increase() -> None:
    assert stats.detectable_increase(0.0, 6) == pytest.approx(1 - 0.2 ** (1 / 6))
    assert stats.detectable_increase(0.5, 3) == float("inf")  # no count of 3 is significant at 5%
    assert stats.detectable_increase(0.02, 0) == float("inf")
    big = stats.detectable_increase(0.02, 20_000)
    assert big == pytest.approx(stats.mde_two_proportions(0.02, 20_000, 10**9), rel=0.1)


def test_canary_plan_command(store: Store, tmp_path: Path) -> None:
    dataset(store, tmp_path)
    result = run_harness("canary-plan", "--dataset", "d", "--steps", "5,20,50,100", "--duration", "2d",
                         "--db", str(store.path))
    assert result.returncode == 0, result.stderr
    assert "48 h per step" in result.stdout and "MDE error rate" in result.stdout
    assert "sha256('canary:' + user_id)" in result.stdout
    bad = run_harness("canary-plan", "--dataset", "d", "--steps", "5,abc", "--db", str(store.path))
    assert bad.returncode == 2
