"""Gate a run: read its tables from the store, evaluate every check, decide, and save."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import polars as pl

from harness.config import GatesConfig
from harness.errors import IncompleteRunError
from harness.gates.catalogue import resolve_checks
from harness.gates.evaluate import CheckResult, evaluate
from harness.gates.findings import Finding, action_findings
from harness.gates.inputs import GateInputs, JudgeHealth, build_inputs
from harness.gates.segments import evaluate_segments, significantly_worse
from harness.gates.side_effects import side_effect_checks
from harness.gates.verdict import decide
from harness.metrics import metrics
from harness.store import Store

__all__ = ["GateReport", "gate_run", "evaluate_gates", "load_inputs", "result_row", "run_coverage"]


@dataclass
class GateReport:
    run_id: str
    verdict: str
    reasons: list[str]
    checks: list[CheckResult]
    sanity: list[CheckResult] = field(default_factory=list)
    segments: list[CheckResult] = field(default_factory=list)
    worse_segments: list[CheckResult] = field(default_factory=list)
    quality_source: str | None = None
    findings: list[Finding] = field(default_factory=list)
    judge: JudgeHealth | None = None


def load_inputs(store: Store, run_id: str, settings: GatesConfig) -> GateInputs:
    """The run's per-request values for the gates, from the store, through the metric registry."""
    scorers = sorted({m.score for m in metrics().values() if m.score})
    return build_inputs(store.gate_requests(run_id), store.gate_responses(run_id),
                        store.gate_scores(run_id, scorers), store.judge_diagnostics(run_id), settings)


def gate_run(store: Store, run_id: str, settings: GatesConfig | None = None, *,
             allow_incomplete: bool = False, extra_checks: Sequence[CheckResult] = ()) -> GateReport:
    """Evaluate the gates on a scored run and store the results and the verdict.

    A run that did not finish (budget, interrupt, failure) is a partial and possibly biased
    sample: it is gated only with `allow_incomplete`, and then its verdict is at most
    pause_and_investigate, with the coverage in the reasons. `extra_checks` are results decided
    elsewhere (the migration check) that enter the verdict too."""
    settings = settings or GatesConfig()
    coverage = run_coverage(store, run_id, allow_incomplete)
    findings = action_findings(store.score_details(run_id, "action_match"),
                               store.score_details(run_id, "action_changed"), alpha=settings.alpha)
    report = evaluate_gates(load_inputs(store, run_id, settings), settings, run_id, findings=findings,
                            extra_checks=[*extra_checks, *side_effect_checks(store, run_id)])
    if coverage is not None:
        _cap_for_incomplete(report, coverage)
    rows = [result_row(r, name=f"sanity:{r.check_name}" if r.severity == "sanity" else r.check_name)
            for r in report.checks + report.sanity + report.segments]
    store.save_gate_results(run_id, pl.DataFrame(rows, infer_schema_length=None), report.verdict,
                            report.reasons, settings.model_dump(mode="json"), [f.to_dict() for f in findings])
    return report


def run_coverage(store: Store, run_id: str, allow_incomplete: bool) -> str | None:
    """None for a completed run; for an incomplete one, a sentence on how much of it there is
    (IncompleteRunError unless `allow_incomplete`)."""
    run = store.run(run_id)  # NotFoundError for an unknown run
    if run["status"] in ("completed", "stopped_early"):  # stopped_early: a sequential replay decided
        return None
    done = store.run_totals(run_id)["n_responses"]
    planned = int(run["n_planned"] or 0)
    share = f" ({done / planned:.0%})" if planned else ""
    coverage = f"run {run_id} is incomplete ({run['status']}): {done:,} of {planned:,} planned responses{share}"
    if not allow_incomplete:
        raise IncompleteRunError(coverage)
    return coverage


def _cap_for_incomplete(report: GateReport, coverage: str) -> None:
    """An incomplete run's verdict is at most pause_and_investigate, and says why first."""
    if report.verdict == "proceed":
        report.verdict = "pause_and_investigate"
        report.reasons[0] = "Pause and investigate: the run is incomplete, so no verdict can be proceed."
    report.reasons.insert(1, f"The {coverage}: the checks saw only what was replayed, which may not be"
                             " a fair sample of the dataset.")


def evaluate_gates(inputs: GateInputs, settings: GatesConfig, run_id: str = "", *,
                   segments: bool = True, only: set[str] | None = None,
                   findings: list[Finding] | None = None, extra_checks: Sequence[CheckResult] = (),
                   anytime: bool = False) -> GateReport:
    """Every check (or `only` those named), prod_repeat's sanity checks and (optionally) the
    segments, and the verdict (with `extra_checks` among the checks); `anytime`: confidence
    sequences instead of the bootstrap (a look of a sequential replay or a live canary)."""
    specs = [s for s in resolve_checks(settings.checks) if only is None or s.name in only]
    checks = [evaluate(spec, inputs, settings, anytime=anytime) for spec in specs] + list(extra_checks)
    sanity = [evaluate(spec, inputs, settings, arm="prod_repeat", sanity=True, anytime=anytime)
              for spec in specs if spec.kind == "relative"] if inputs.has_repeat else []
    sanity = [s for s in sanity if s.status not in ("skipped", "unreliable")]
    by_segment = evaluate_segments(specs, inputs, settings) if segments else []
    worse = significantly_worse(by_segment, settings.alpha)
    decision = decide(checks, sanity, worse, has_repeat=inputs.has_repeat, judge=inputs.judge, findings=findings)
    return GateReport(run_id, decision.verdict, decision.reasons, checks, sanity, by_segment, worse,
                      inputs.evidence.get("quality"), list(findings or []), inputs.judge)


def result_row(result: CheckResult, name: str) -> dict[str, object]:
    """A check result as a gate_results row (details as JSON, numbers as floats)."""
    row = asdict(result)
    row["check_name"] = name
    row["details"] = json.dumps(row["details"])
    for key in ("estimate", "ci_low", "ci_high", "threshold", "margin", "noise_band", "p_value", "p_adjusted", "mde"):
        row[key] = None if row[key] is None else float(row[key])
    return row
