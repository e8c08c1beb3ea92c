"""The `migration_error_rate` gate: the share of checked states whose migration was not ok.

It enters the verdict when the config's [migration] section names a check. A check that
covered every state (scope "all", completed) measures the rate exactly: it fails above
`max_error_rate` (default 0: one broken state fails it) and passes otherwise. A sample, a
cohort short of 100% or an unfinished check only estimates it: a Wilson interval decides, so a
sample without errors is inconclusive under a maximum of 0 (a sample cannot show that no
state breaks), and one with errors fails. No check in the store: no data. Never a pass
without evidence.
"""

from __future__ import annotations

from harness.config import HarnessConfig, MigrationConfig
from harness.errors import NotFoundError
from harness.gates.evaluate import CheckResult
from harness.migration.summary import MigrationSummary, migration_summary
from harness.stats import wilson_interval
from harness.store import Store

__all__ = ["CHECK_NAME", "migration_checks", "migration_gate"]

CHECK_NAME = "migration_error_rate"


def migration_checks(store: Store, config: HarnessConfig) -> list[CheckResult]:
    """The gate results a release config asks for: [] without a [migration] section."""
    if config.migration is None:
        return []
    return [migration_gate(store, config.migration, alpha=config.gates.alpha)]


def migration_gate(store: Store, migration: MigrationConfig, *, alpha: float = 0.05,
                   summary: MigrationSummary | None = None) -> CheckResult:
    """The check result for `migration.check` (metric `error`, statistic `rate`, as the
    candidate's error rate, so it prints and stores like any other check)."""
    result = CheckResult(CHECK_NAME, "error", "rate", "absolute", migration.severity, "nodata",
                         migration.max_error_rate, "max", source=f"migration check {migration.check}")
    head = f"{CHECK_NAME} ({migration.severity})"
    try:
        summary = summary or migration_summary(store, migration.check)
    except NotFoundError:
        result.details["why"] = f"no migration check {migration.check!r} in the store"
        result.sentence = (f"{head} has no verdict: no migration check {migration.check!r} in the store"
                           f" (run `harness migrate-check` with --check-id {migration.check}).")
        return result
    n, bad = summary.n_checked, summary.n_not_ok
    result.n = n
    result.details = {"check_id": migration.check, "scope": summary.check["scope"], "outcomes": summary.outcomes,
                      "complete": summary.complete}
    if n == 0:
        result.sentence = f"{head} has no verdict: migration check {migration.check} has checked no state yet."
        return result
    exact = summary.complete and summary.check["scope"] == "all"
    rate = bad / n
    if exact:
        result.estimate = result.ci_low = result.ci_high = rate
        result.status = "fail" if rate > migration.max_error_rate else "pass"
    else:
        interval = wilson_interval(bad, n, level=1 - alpha)
        result.estimate, result.ci_low, result.ci_high = rate, interval.low, interval.high
        result.status = ("fail" if interval.low > migration.max_error_rate
                         else "pass" if interval.high <= migration.max_error_rate else "inconclusive")
    result.sentence = _sentence(result, summary, head, exact, alpha)
    return result


def _sentence(r: CheckResult, summary: MigrationSummary, head: str, exact: bool, alpha: float) -> str:
    check = summary.check
    broken = ", ".join(f"{k} {v:,}" for k, v in summary.outcomes.items() if k != "ok" and v) or "none"
    what = (f"{summary.n_not_ok:,} of {r.n:,} states ({100 * (r.estimate or 0):.1f}%) of migration check"
            f" {check['check_id']} ({check['state_set']}, {check['scope']}) did not migrate cleanly ({broken})")
    if not exact:
        coverage = "a sample" if check["scope"] != "all" else f"an unfinished check ({check['status']})"
        what += (f"; {coverage}, so {round(100 * (1 - alpha))}% CI {100 * (r.ci_low or 0):.1f}% to"
                 f" {100 * (r.ci_high or 0):.1f}%")
    limit = f"the maximum of {100 * r.threshold:.1f}%"
    if r.status == "pass":
        return f"{head} passes: {what}, within {limit}."
    if r.status == "fail":
        return f"{head} fails: {what}, above {limit}."
    return f"{head} is inconclusive: {what}, which straddles {limit}; check every state to settle it."
