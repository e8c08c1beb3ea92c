"""Synthetic paired runs with known effects, to validate the gates (A/A and planted regressions).

Used by tests/test_gates_validation.py (small, seeded) and bench/validate_gates.py (long).

Each request has a user (with a random effect on latency and quality), an intent, and per
arm a latency, an error, a cost, tool calls and a quality; prod_repeat is drawn exactly like
prod. Effects are planted on the candidate only, so their true size is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from harness.config import GatesConfig
from harness.gates.inputs import GateInputs
from harness.gates.run import evaluate_gates

__all__ = ["Effects", "simulate_inputs", "INTENTS", "false_failure_rate", "detection_rate",
           "predicted_error_rate_power", "predicted_segment_power"]

INTENTS = ("order_status", "refund_request", "product_question", "shipping_change")
_ARMS = ("prod", "prod_repeat", "candidate")


@dataclass(frozen=True)
class Effects:
    """What differs in the candidate. All zero: an A/A comparison."""

    error_rate_add: float = 0.0
    latency_tail_share: float = 0.0
    """Share of the candidate's requests that take `latency_tail_factor` times longer."""
    latency_tail_factor: float = 1.0
    quality_drop: float = 0.0
    quality_drop_intent: str | None = None
    """Limit the quality drop to one intent (a segment regression)."""


def simulate_inputs(n_requests: int = 1200, n_users: int = 300, *, seed: int = 0, effects: Effects = Effects(),
                    base_error_rate: float = 0.02, quality_sd: float = 0.1) -> GateInputs:
    """A per-request gate table like the store builds, from a seeded generator."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_requests)
    user_latency = rng.normal(0, 0.25, n_users)[users]
    user_quality = rng.normal(0, 0.04, n_users)[users]
    intents = np.array(INTENTS, dtype=object)[rng.integers(0, len(INTENTS), n_requests)]
    difficulty = rng.normal(0, 0.3, n_requests)
    base_quality = np.clip(0.8 + user_quality + rng.normal(0, quality_sd, n_requests), 0, 1)
    series: dict[tuple[str, str], np.ndarray] = {}
    for arm in _ARMS:
        is_candidate = arm == "candidate"
        latency = np.exp(6.0 + user_latency + difficulty + rng.normal(0, 0.35, n_requests))
        error_p = base_error_rate + (effects.error_rate_add if is_candidate else 0.0)
        quality = np.clip(base_quality + rng.normal(0, 0.05, n_requests), 0, 1)
        if is_candidate:
            tail = rng.random(n_requests) < effects.latency_tail_share
            latency = np.where(tail, latency * effects.latency_tail_factor, latency)
            hit = np.ones(n_requests, bool) if effects.quality_drop_intent is None else intents == effects.quality_drop_intent
            quality = np.where(hit, np.clip(quality - effects.quality_drop, 0, 1), quality)
        series[("latency_ms", arm)] = latency
        series[("error", arm)] = (rng.random(n_requests) < error_p).astype(float)
        series[("cost_usd", arm)] = 0.002 * np.exp(0.5 * difficulty + rng.normal(0, 0.1, n_requests))
        series[("tool_calls", arm)] = rng.poisson(1.5, n_requests).astype(float)
        series[("reference_similarity", arm)] = quality
    for arm in ("candidate", "prod_repeat"):
        series[("similarity", arm)] = np.clip(rng.normal(0.88, 0.05, n_requests), -1, 1)
        series[("tool_behaviour", arm)] = (rng.random(n_requests) < 0.03).astype(float)
    for arm in ("candidate", "prod_repeat"):
        series[("action_changed", arm)] = (rng.random(n_requests) < 0.02).astype(float)
    return GateInputs(series, users.astype(str), frozenset(_ARMS), segments={"intent": intents})


def false_failure_rate(seeds: range, settings: GatesConfig) -> float:
    """A/A: the share of seeds where any critical check fails although nothing changed."""
    failing = 0
    for seed in seeds:
        report = evaluate_gates(simulate_inputs(seed=seed), settings, segments=False)
        failing += any(c.severity == "critical" and c.status == "fail" for c in report.checks)
    return failing / len(seeds)


def detection_rate(effects: Effects, check: str, seeds: range, settings: GatesConfig, *, segment: str | None = None,
                   **sizes: int) -> float:
    """The share of seeds where `check` fails overall, or flags `segment` (e.g. "intent=refund_request")."""
    hits = 0
    for seed in seeds:
        report = evaluate_gates(simulate_inputs(seed=seed, effects=effects, **sizes), settings,
                                segments=segment is not None, only={check})
        if segment is None:
            hits += report.checks[0].status == "fail"
        else:
            hits += any(f"{r.segment_key}={r.segment_value}" == segment for r in report.worse_segments)
    return hits / len(seeds)


def predicted_error_rate_power(add: float, base: float, n: int, margin: float, alpha: float) -> float:
    """Probability that error_rate_diff fails: its interval's low end clears the margin
    (normal approximation of the paired difference of two rates)."""
    se = math.sqrt(((base + add) * (1 - base - add) + base * (1 - base)) / n)
    return float(norm.cdf((add - margin) / se - norm.ppf(1 - alpha / 2)))


def predicted_segment_power(drop: float, n_segment: float, margin: float, sd: float = 0.05 * math.sqrt(2)) -> float:
    """Probability that a segment's paired quality drop is estimated beyond the margin (its
    test against no difference is then far below alpha)."""
    return float(norm.cdf((drop - margin) / (sd / math.sqrt(n_segment))))
