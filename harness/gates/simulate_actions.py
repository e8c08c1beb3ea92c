"""Synthetic runs of tool-using agents on multi-step tasks, with the ground truth known.

Each task has reference write actions and a true chance of success that varies a lot from
task to task (and a little by user); an arm succeeds on a task with that chance plus its own
shift, independently on every run, so prod disagrees with prod_repeat on about a third of the
tasks, as real agents do. A success makes exactly the reference's actions; a failure makes
wrong or partial ones. Conversations take minutes, cost cents and call ~6 tools, and read-tool
sets change from run to run most of the time. Used by tests/test_gates_validation.py (short)
and bench/validate_gates.py (long).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from harness.config import GatesConfig
from harness.gates.inputs import GateInputs
from harness.gates.run import GateReport, evaluate_gates

__all__ = ["Agent", "TASK_KINDS", "simulate_tasks", "run_many", "predicted_power", "expected_effect"]

TASK_KINDS = ("book", "cancel", "change_flight", "baggage", "refund")
_ARMS = ("prod", "prod_repeat", "candidate")


@dataclass(frozen=True)
class Agent:
    """How the candidate differs from prod. All defaults: the same agent (an A/A comparison)."""

    success_shift: float = 0.0
    """Added to every task's chance of success (-0.10: ten points less successful)."""
    cost_factor: float = 1.0
    latency_factor: float = 1.0
    rewording: float = 0.0
    """How much less similar its answers are to prod's than prod's own repeat (new wording)."""


def simulate_tasks(n_tasks: int = 2000, n_users: int = 500, *, seed: int = 0, candidate: Agent = Agent(),
                   base_success: float = 0.62, latency_ms: float = 180_000.0) -> GateInputs:
    """A gate table of one replay of `n_tasks` tasks through prod, prod_repeat and candidate."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_tasks)
    chance = _chances(rng, n_tasks, base_success, rng.normal(0, 0.4, n_users)[users])
    kinds = np.array(TASK_KINDS, dtype=object)[rng.integers(0, len(TASK_KINDS), n_tasks)]
    task_cost = 0.04 * np.exp(rng.normal(0, 0.35, n_tasks))
    task_latency = latency_ms * np.exp(rng.normal(0, 0.45, n_tasks) + rng.normal(0, 0.2, n_users)[users])
    series: dict[tuple[str, str], np.ndarray] = {}
    success: dict[str, np.ndarray] = {}
    for arm in _ARMS:
        spec = candidate if arm == "candidate" else Agent()
        won = rng.random(n_tasks) < np.clip(chance + spec.success_shift, 0, 1)
        success[arm] = won
        partial = rng.choice(np.array([0.0, 0.5, 2 / 3]), n_tasks)
        series[("action_match", arm)] = won.astype(float)
        series[("action_f1", arm)] = np.where(won, 1.0, partial)
        series[("latency_ms", arm)] = task_latency * spec.latency_factor * np.exp(rng.normal(0, 0.25, n_tasks))
        series[("cost_usd", arm)] = task_cost * spec.cost_factor * np.exp(rng.normal(0, 0.1, n_tasks))
        series[("error", arm)] = (rng.random(n_tasks) < 0.01).astype(float)
        series[("tool_calls", arm)] = rng.poisson(6, n_tasks).astype(float)
    for arm in ("candidate", "prod_repeat"):
        spec = candidate if arm == "candidate" else Agent()
        one_succeeded = success[arm] != success["prod"]
        both_failed = ~success[arm] & ~success["prod"]
        series[("action_changed", arm)] = (one_succeeded | (both_failed & (rng.random(n_tasks) < 0.7))).astype(float)
        series[("similarity", arm)] = np.clip(rng.normal(0.75 - spec.rewording, 0.08, n_tasks), -1, 1)
        series[("tool_behaviour", arm)] = (rng.random(n_tasks) < 0.75).astype(float)
    return GateInputs(series, users.astype(str), frozenset(_ARMS), segments={"task": kinds})


def _chances(rng: np.random.Generator, n: int, base_success: float, user_effect: np.ndarray | float) -> np.ndarray:
    """Each task's true chance of success: widely spread around `base_success` on the logit scale."""
    logit = math.log(base_success / (1 - base_success))
    return 1 / (1 + np.exp(-(logit + rng.normal(0, 1.6, n) + user_effect)))


def expected_effect(shift: float, base_success: float = 0.62, n: int = 400_000) -> float:
    """The true change in success rate a shift plants (less than the shift where chances clip at 0 or 1)."""
    rng = np.random.default_rng(12345)
    chance = _chances(rng, n, base_success, rng.normal(0, 0.4, n))
    return float(np.mean(np.clip(chance + shift, 0, 1) - chance))


def run_many(candidate: Agent, seeds: range, settings: GatesConfig, *, n_tasks: int = 2000,
             segments: bool = True, only: set[str] | None = None) -> list[GateReport]:
    """The gate reports of one simulated replay per seed."""
    return [evaluate_gates(simulate_tasks(n_tasks, seed=seed, candidate=candidate), settings, segments=segments,
                           only=only) for seed in seeds]


def predicted_power(effect: float, margin: float, halfwidth: float, alpha: float) -> float:
    """The power the check's own interval predicts: the chance that an interval of this half
    width around an estimate `effect` beyond no difference lies wholly beyond `margin`."""
    z = norm.ppf(1 - alpha / 2)
    se = halfwidth / z
    return float(norm.cdf((effect - margin) / se - z))
