"""Captured logs of tool-using agents on multi-turn tasks, with reference actions, for the action tests.

Each task is a multi-turn airline-style conversation whose reference names the write actions
that solve it (`tool_calls: []` for tasks where the right outcome is to change nothing). Each
captured variant either makes exactly those actions (plus read calls that vary from run to
run) or fails, deterministically per task, so comparisons have known outcomes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tests.conftest import write_jsonl

__all__ = ["tool_log", "TASKS"]

TASKS = ("cancel", "book", "baggage", "info")


def _reference(i: int, kind: str) -> list[dict[str, Any]]:
    if kind == "cancel":
        return [{"name": "cancel_reservation", "arguments": {"reservation_id": f"R{i:04d}"}}]
    if kind == "book":
        return [{"name": "book_reservation", "arguments": {"user_id": f"u{i % 50}", "flight": f"HAT{i % 300:03d}",
                                                          "passengers": [{"name": "Ann"}], "payment": "gift_card"}}]
    if kind == "baggage":
        return [{"name": "update_reservation_baggages", "arguments": {"reservation_id": f"R{i:04d}", "bags": 2}}]
    return []


def _calls(i: int, kind: str, succeeds: bool, rng: random.Random) -> list[dict[str, Any]]:
    reads = [{"name": "get_reservation_details", "arguments": {"reservation_id": f"R{i:04d}"},
              "result": {"status": "confirmed"}}]
    if rng.random() < 0.7:  # read-tool sets change from run to run: noise, not actions
        reads.append({"name": "get_user_details", "arguments": {"user_id": f"u{i % 50}"}, "result": {"tier": "gold"}})
    expected = _reference(i, kind)
    if succeeds:
        # the same actions, written differently: key order, case, a number as text
        actions = [{"name": c["name"], "arguments": dict(reversed(list(c["arguments"].items())))} for c in expected]
        for call in actions:
            if "bags" in call["arguments"]:
                call["arguments"]["bags"] = "2"
        return reads + actions
    if kind == "info":
        return reads + [{"name": "cancel_reservation", "arguments": {"reservation_id": f"R{i:04d}"}}]
    wrong = [{"name": c["name"], "arguments": {**c["arguments"], "reservation_id": "R9999"}} for c in expected]
    return reads + (wrong if i % 2 else [])


def tool_log(path: Path, n: int, *, fails: dict[str, set[int]], seed: int = 0, latency_minutes: float = 3.0,
             costs: dict[str, float | None] | None = None) -> Path:
    """A canonical log of `n` tasks with variants prod, prod_b (prod again) and cand.

    `fails[variant]` names the task indexes that variant gets wrong; latencies are minutes long;
    `costs[variant]` is each response's cost (None: not reported).
    """
    rng = random.Random(seed)
    costs = costs or {}
    records = []
    for i in range(n):
        kind = TASKS[i % len(TASKS)]
        captured = []
        for variant in ("prod", "prod_b", "cand"):
            ok = i not in fails.get(variant, set())
            captured.append({
                "variant": variant, "tool_calls": _calls(i, kind, ok, rng),
                "output": rng.choice(["Done.", "All set!", "I've taken care of it.", "That's handled now."]),
                "latency_ms": latency_minutes * 60_000 * rng.uniform(0.5, 1.8),
                "cost_usd": costs.get(variant, 0.03 * rng.uniform(0.8, 1.2)),
            })  # fmt: skip
        records.append({
            "request_id": f"t{i}", "user_id": f"u{i % 50}", "metadata": {"intent": kind},
            "input": {"messages": [{"role": "user", "content": f"Hi, I need help with {kind} {i}"},
                                   {"role": "assistant", "content": "Sure, what is your reservation?"},
                                   {"role": "user", "content": f"It is R{i:04d}"}]},
            "reference": {"tool_calls": _reference(i, kind)}, "captured": captured,
        })  # fmt: skip
    return write_jsonl(path, records)
