"""Gate a run: read its per-request table, evaluate every check, segments and sanity, decide, store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import polars as pl

from harness.config import GatesConfig
from harness.gates.catalogue import resolve_checks
from harness.gates.evaluate import CheckResult, evaluate
from harness.gates.inputs import GateInputs, build_inputs
from harness.gates.segments import evaluate_segments, significantly_worse
from harness.gates.verdict import decide
from harness.store import Store

__all__ = ["GateReport", "gate_run", "evaluate_gates"]


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


def gate_run(store: Store, run_id: str, settings: GatesConfig | None = None,
             extra_checks: Sequence[CheckResult] = ()) -> GateReport:
    """Evaluate the gates on a scored run and store the results and the verdict.

    `extra_checks` are results decided elsewhere (the migration check) that enter the verdict too."""
    settings = settings or GatesConfig()
    store.run(run_id)  # NotFoundError for an unknown run
    inputs = build_inputs(store.gate_inputs(run_id), cluster_by=settings.cluster_by,
                          segment_keys=settings.segment_keys)
    report = evaluate_gates(inputs, settings, run_id, extra_checks=extra_checks)
    rows = [_row(r, name=f"sanity:{r.check_name}" if r.severity == "sanity" else r.check_name)
            for r in report.checks + report.sanity + report.segments]
    store.save_gate_results(run_id, pl.DataFrame(rows, infer_schema_length=None), report.verdict,
                            report.reasons, settings.model_dump(mode="json"))
    return report


def evaluate_gates(inputs: GateInputs, settings: GatesConfig, run_id: str = "", *,
                   segments: bool = True, only: set[str] | None = None,
                   extra_checks: Sequence[CheckResult] = ()) -> GateReport:
    """Every check (or `only` those named), prod_repeat's sanity checks and (optionally) the
    segments, and the verdict (with `extra_checks` among the checks)."""
    specs = [s for s in resolve_checks(settings.checks) if only is None or s.name in only]
    checks = [evaluate(spec, inputs, settings) for spec in specs] + list(extra_checks)
    sanity = [evaluate(spec, inputs, settings, arm="prod_repeat", sanity=True)
              for spec in specs if spec.kind == "relative"] if inputs.has_repeat else []
    sanity = [s for s in sanity if s.status != "skipped"]
    by_segment = evaluate_segments(specs, inputs, settings) if segments else []
    worse = significantly_worse(by_segment, settings.alpha)
    decision = decide(checks, sanity, worse, has_repeat=inputs.has_repeat)
    return GateReport(run_id, decision.verdict, decision.reasons, checks, sanity, by_segment, worse,
                      inputs.quality_source)


def _row(result: CheckResult, name: str) -> dict[str, object]:
    row = asdict(result)
    row["check_name"] = name
    row["details"] = json.dumps(row["details"])
    for key in ("estimate", "ci_low", "ci_high", "threshold", "margin", "noise_band", "p_value", "p_adjusted", "mde"):
        row[key] = None if row[key] is None else float(row[key])
    return row
