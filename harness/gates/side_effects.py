"""The `no_live_writes` gate: a critical failure when any replayed call of a `write` tool
reached a live endpoint without `allow_live_write`, in any arm.

Evidence is the run's tool_events. It passes when calls went through the sandbox and none was
an unallowed live write; a run without sandboxed calls gets no such check (what an agent does
outside the sandbox cannot be seen from here; the report's checklist says so).
"""

from __future__ import annotations

from harness.gates.evaluate import CheckResult
from harness.store import Store

__all__ = ["CHECK_NAME", "side_effect_checks"]

CHECK_NAME = "no_live_writes"


def side_effect_checks(store: Store, run_id: str) -> list[CheckResult]:
    """The no_live_writes check result, or none when no call went through the sandbox."""
    summary = store.tool_event_summary(run_id)
    calls = int(summary["calls"].sum()) if summary.height else 0
    if calls == 0:
        return []
    result = CheckResult(CHECK_NAME, "live_writes", "mean", "absolute", "critical", "pass", 0.0, "max",
                         source="tool_events", arm="all arms")
    head = f"{CHECK_NAME} (critical)"
    unallowed = summary.filter(summary["live_writes_unallowed"] > 0)
    n_bad = int(unallowed["live_writes_unallowed"].sum()) if unallowed.height else 0
    blocked = int(summary["writes_blocked"].sum())
    result.n, result.estimate = calls, float(n_bad)
    result.details = {"calls": calls, "writes_blocked": blocked, "live_writes_unallowed": n_bad,
                      "by_tool": {f"{r['arm']}:{r['tool']}": r["live_writes_unallowed"] for r in unallowed.to_dicts()}}
    if n_bad:
        where = ", ".join(f"{r['tool']} ({r['arm']}, {r['live_writes_unallowed']:,})" for r in unallowed.to_dicts())
        result.status = "fail"
        result.sentence = (f"{head} fails: {n_bad:,} replayed calls of write tools reached a live endpoint without"
                           f" allow_live_write: {where}. The replay had side effects.")
    else:
        result.sentence = (f"{head} passes: none of the {calls:,} sandboxed tool calls reached a live write tool"
                           f" without allow_live_write; {blocked:,} intended writes were blocked.")
    return [result]
