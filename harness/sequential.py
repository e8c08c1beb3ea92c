"""Sequential replay's rules: the order requests are drawn in, the waves, a look, and when to stop.

Requests are replayed a wave at a time in a random order fixed by the seed. Whole users (or
sessions, the gates' `cluster_by`) are drawn together, so every look sees complete clusters,
which the confidence sequences of harness.anytime need. After each wave the gates are evaluated
with those sequences, valid at every look; the replay stops when every critical check is
decided and every warning is decided or cannot be within the dataset, or when one critical
check fails (the verdict is then rollback whatever the rest says).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from harness.gates.evaluate import CheckResult

if TYPE_CHECKING:
    from harness.gates import GateReport
    from harness.gates.inputs import GateInputs

__all__ = ["StopRule", "draw_order", "waves", "reorder", "stop_reason", "look_checks", "STOP_REASONS",
           "DECIDED_STATUSES"]

#: Statuses that settle a check for the stop rule.
DECIDED_STATUSES = ("pass", "fail", "fail_prod_too", "skipped")
#: Why a sequential replay stopped, in words.
STOP_REASONS = {
    "critical_fail": "a critical check failed",
    "decided": "every critical check is decided and every warning is decided or cannot be within the dataset",
    "dataset_exhausted": "the dataset ran out before every check was decided",
    "budget_exhausted": "the budget ran out",
}


def draw_order(units: pl.DataFrame, seed: int, cluster_by: str) -> list[list[str]]:
    """The dataset's requests grouped by unit (user, session, or the request alone), units in a
    random order fixed by the seed (sha256 of "seed:unit"), requests of a unit in ingest order."""
    key = "request_id" if cluster_by == "none" else cluster_by
    labels = units.select(pl.coalesce(key, "request_id"))[:, 0].to_list()
    grouped: dict[str, list[str]] = {}
    for label, rid in zip(labels, units["request_id"].to_list(), strict=True):
        grouped.setdefault(f"{key}:{label}", []).append(rid)
    rank = {u: hashlib.sha256(f"{seed}:{u}".encode()).hexdigest() for u in grouped}
    return [grouped[u] for u in sorted(grouped, key=rank.__getitem__)]


def waves(order: list[list[str]], wave_size: int) -> list[list[str]]:
    """Consecutive units cut into waves of at least `wave_size` requests (the last may hold fewer)."""
    cut: list[list[str]] = [[]]
    for unit in order:
        if len(cut[-1]) >= wave_size:
            cut.append([])
        cut[-1].extend(unit)
    return [w for w in cut if w]


def reorder(inputs: GateInputs, request_ids: list[str], position: dict[str, int]) -> GateInputs:
    """The gate inputs' rows in draw order (the order the confidence sequences read them in)."""
    order = np.argsort(np.array([position[r] for r in request_ids], dtype=np.int64), kind="stable")
    return inputs.subset(order)


@dataclass(frozen=True)
class StopRule:
    """What the stop rule needs beyond the checks: how many requests were used of how many."""

    n_used: int
    n_total: int
    min_requests: int

    def settled(self, check: CheckResult) -> bool:
        """A warning is settled when decided, or when the rest of the dataset cannot decide it."""
        if check.status in DECIDED_STATUSES or check.status == "unreliable":
            return True
        if check.status == "nodata":
            projected = check.n * self.n_total / max(self.n_used, 1)
            return self.n_used >= self.min_requests and projected < self.min_requests
        if check.estimate is None:  # no sequence exists for this statistic
            return True
        return check.n_needed is not None and check.n_needed > check.n * self.n_total / max(self.n_used, 1)


def stop_reason(report: GateReport, rule: StopRule) -> str | None:
    """critical_fail, decided, or None (look again after the next wave)."""
    critical = [c for c in report.checks if c.severity == "critical"]
    if any(c.status == "fail" for c in critical):
        return "critical_fail"
    warnings = [c for c in report.checks if c.severity != "critical"]
    if all(c.status in DECIDED_STATUSES for c in critical) and all(rule.settled(c) for c in warnings):
        return "decided"
    return None


def look_checks(report: GateReport) -> list[dict[str, Any]]:
    """The checks of a look as stored: name, severity, status, estimate, interval, n."""
    return [{"name": c.check_name, "severity": c.severity, "status": c.status, "metric": c.metric,
             "statistic": c.statistic, "estimate": _number(c.estimate), "low": _number(c.ci_low),
             "high": _number(c.ci_high), "threshold": c.threshold, "n": c.n} for c in report.checks]


def _number(value: float | None) -> float | None:
    """JSON has no infinity: an unbounded side is stored as None."""
    return None if value is None or not np.isfinite(value) else float(value)
