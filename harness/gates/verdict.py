"""The verdict and its reasons, from the checks' statuses.

rollback: any critical check fails. pause_and_investigate: a warning check fails, a critical
check is undecided (inconclusive, no data, or resting on an unreliable judge), a critical
check fails inside a segment (significant after correction), or prod fails a check against
itself (the measurement is broken). proceed: everything else, and it says how many checks
passed and names those left undecided. A limit that prod breaks as badly (`fail_prod_too`)
does not block on its own; the reasons say so plainly.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.gates.describe import PROD_TOO, measured, value_text
from harness.gates.evaluate import OPEN_STATUSES, CheckResult
from harness.gates.findings import Finding
from harness.gates.inputs import JudgeHealth

__all__ = ["Decision", "decide", "VERDICTS"]

VERDICTS = ("proceed", "pause_and_investigate", "rollback")


@dataclass(frozen=True)
class Decision:
    verdict: str
    reasons: list[str]


def decide(checks: list[CheckResult], sanity: list[CheckResult], worse_segments: list[CheckResult], *,
           has_repeat: bool = True, judge: JudgeHealth | None = None,
           findings: list[Finding] | None = None) -> Decision:
    """Apply the documented rule; reasons are sentences, the most serious first."""
    by = lambda severity, *statuses: [c for c in checks if c.severity == severity and c.status in statuses]  # noqa: E731
    critical_fails, warning_fails = by("critical", "fail"), by("warning", "fail")
    critical_open, warning_open = by("critical", *OPEN_STATUSES), by("warning", *OPEN_STATUSES)
    prod_too = [c for c in checks if c.status == "fail_prod_too"]
    broken = [c for c in sanity if c.status == "fail"]
    failing = {c.check_name for c in checks if c.status == "fail"}
    segment_fails = [r for r in worse_segments
                     if r.severity == "critical" and r.status == "fail" and r.check_name not in failing]
    if critical_fails:
        verdict = "rollback"
        head = f"Roll back: {_count(critical_fails, 'critical check')} failed."
    elif warning_fails or critical_open or broken or segment_fails:
        verdict = "pause_and_investigate"
        parts = []
        if segment_fails:
            segments = sorted({f"{r.segment_key}={r.segment_value}" for r in segment_fails})
            parts.append(f"a critical check fails in {_plural(len(segments), 'segment')} ({', '.join(segments)})")
        if broken:
            parts.append("prod disagrees with itself, so the measurement is broken")
        if warning_fails:
            parts.append(f"{_count(warning_fails, 'warning check')} failed")
        if critical_open:
            parts.append(f"{_count(critical_open, 'critical check')} cannot be decided")
        head = "Pause and investigate: " + "; ".join(parts) + "."
    else:
        verdict = "proceed"
        passed = [c for c in checks if c.status == "pass"]
        parts = [f"{_plural(len(passed), 'check')} pass"]
        if warning_open:
            parts.append(f"{_count(warning_open, 'warning check')} left undecided")
        if prod_too:
            parts.append(f"{_plural(len(prod_too), 'limit')} that prod breaks as well ({_names(prod_too)})")
        head = "Proceed: " + "; ".join(parts) + "."
    reasons = [head]
    if judge is not None and not judge.reliable:
        reasons.append(judge.sentence())
    reasons += [_segment_failure(r) for r in segment_fails]
    reasons += [c.sentence for c in critical_fails + warning_fails + critical_open + warning_open]
    reasons += [f"{c.check_name}: {PROD_TOO}, so it does not block the candidate on its own. {c.sentence}"
                for c in prod_too]
    reasons += [f"The measurement is broken: {c.sentence}" for c in broken]
    reasons += [f.text for f in findings or []]
    reasons += _segment_reasons([r for r in worse_segments if r not in segment_fails], failing)
    if not has_repeat:
        reasons.append("No prod_repeat arm was replayed, so there is no noise floor: relative checks use their"
                       " configured thresholds alone.")
    reasons += [c.sentence for c in checks if c.status == "skipped"]
    return Decision(verdict, reasons)


def _segment_failure(r: CheckResult) -> str:
    return (f"Segment {r.segment_key}={r.segment_value} ({r.n:,} requests): {r.check_name} ({r.severity}) fails"
            f" there: {measured(r)} (CI {_ci(r)}, adjusted p={r.p_adjusted:.2g}).")


def _ci(r: CheckResult) -> str:
    return f"{value_text(r, r.ci_low)} to {value_text(r, r.ci_high)}"


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


def _names(items: list[CheckResult]) -> str:
    return ", ".join(c.check_name for c in items)


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _count(items: list[CheckResult], what: str) -> str:
    return f"{_plural(len(items), what)} ({_names(items)})"
