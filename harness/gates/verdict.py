"""The verdict and its reasons, from the checks' statuses.

rollback: any critical check fails. pause_and_investigate: a warning check fails, a
critical check is inconclusive or has no data, or prod fails a check against itself (the
measurement is broken). proceed: everything else. Segments that are significantly worse are
listed in the reasons whatever the verdict (except on checks that already fail overall).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.gates.describe import measured
from harness.gates.evaluate import CheckResult

__all__ = ["Verdict", "decide", "VERDICTS"]

VERDICTS = ("proceed", "pause_and_investigate", "rollback")


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reasons: list[str]


def decide(checks: list[CheckResult], sanity: list[CheckResult], worse_segments: list[CheckResult],
           *, has_repeat: bool = True) -> Verdict:
    """Apply the documented rule; reasons are sentences, the most serious first."""
    critical_fails = [c for c in checks if c.severity == "critical" and c.status == "fail"]
    warning_fails = [c for c in checks if c.severity == "warning" and c.status == "fail"]
    critical_open = [c for c in checks if c.severity == "critical" and c.status in ("inconclusive", "nodata")]
    broken = [c for c in sanity if c.status == "fail"]
    if critical_fails:
        verdict = "rollback"
        head = f"Roll back: {_count(critical_fails, 'critical check')} failed."
    elif warning_fails or critical_open or broken:
        verdict = "pause_and_investigate"
        parts = []
        if broken:
            parts.append("prod disagrees with itself, so the measurement is broken")
        if warning_fails:
            parts.append(f"{_count(warning_fails, 'warning check')} failed")
        if critical_open:
            parts.append(f"{_count(critical_open, 'critical check')} cannot be decided yet")
        head = "Pause and investigate: " + "; ".join(parts) + "."
    else:
        verdict = "proceed"
        decided = [c for c in checks if c.status == "pass"]
        head = f"Proceed: all {len(decided)} decided checks pass."
    reasons = [head]
    reasons += [c.sentence for c in critical_fails + warning_fails + critical_open]
    reasons += [f"The measurement is broken: {c.sentence}" for c in broken]
    reasons += _segment_reasons(worse_segments, {c.check_name for c in checks if c.status == "fail"})
    if not has_repeat:
        reasons.append("No prod_repeat arm was replayed, so there is no noise floor: relative checks use their"
                       " configured thresholds alone.")
    reasons += [c.sentence for c in checks if c.status == "skipped"]
    return Verdict(verdict, reasons)


def _segment_reasons(worse: list[CheckResult], failing_overall: set[str]) -> list[str]:
    """One sentence per segment, naming the checks it is significantly worse on; checks that
    already fail overall are left out (the overall failure says it for every segment)."""
    by_segment: dict[tuple[str, str], list[CheckResult]] = {}
    for r in worse:
        if r.check_name not in failing_overall:
            by_segment.setdefault((r.segment_key, r.segment_value), []).append(r)
    reasons = []
    for (key, value), results in by_segment.items():
        findings = "; ".join(f"{r.check_name}: {measured(r)} (adjusted p={r.p_adjusted:.2g})" for r in results)
        reasons.append(f"Segment {key}={value} ({results[0].n:,} requests) is significantly worse: {findings}.")
    return reasons


def _count(items: list[CheckResult], what: str) -> str:
    names = ", ".join(c.check_name for c in items)
    return f"{len(items)} {what}{'s' if len(items) != 1 else ''} ({names})"
