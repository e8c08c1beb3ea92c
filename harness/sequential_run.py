"""The release job as a sequential replay: a wave, its scores, a look at the gates; again until decided.

`release()` calls this when `[replay] sequential = true` (or `harness run --sequential`). Each
wave is a resumable replay session limited to the wave's requests, so a run stopped early
continues to the full dataset with the same run id (`harness run --run-id ...` without
--sequential replays what is left and gates it the fixed-sample way). Every look is stored;
the verdict's reasons, the run's message (what `harness show` prints) and the report say how
many requests were used, why the replay stopped, and what that saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from harness.config import HarnessConfig, ScoringConfig
from harness.errors import ReplayError
from harness.sequential import STOP_REASONS, StopRule, draw_order, look_checks, reorder, stop_reason, waves
from harness.store import Store

if TYPE_CHECKING:
    from harness.agents import Agent
    from harness.gates import GateReport
    from harness.outcome import ReleaseOutcome
    from harness.scoring import Embedder

__all__ = ["SequentialSummary", "sequential_release"]


@dataclass
class SequentialSummary:
    """How a sequential replay ended: looks taken, requests used of the dataset's, and the savings."""

    stop_reason: str
    looks: int
    n_used: int
    n_total: int
    spend_usd: float
    saved_usd: float
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def saved_requests(self) -> int:
        return self.n_total - self.n_used

    def sentence(self) -> str:
        share = f" ({self.n_used / self.n_total:.0%})" if self.n_total else ""
        saved = (f"; saved {self.saved_requests:,} requests, about ${self.saved_usd:,.4f} of agent spend"
                 if self.saved_requests else "")
        return (f"Sequential replay stopped at look {self.looks} because {STOP_REASONS[self.stop_reason]}:"
                f" {self.n_used:,} of {self.n_total:,} requests used{share}{saved}.")


def sequential_release(config: HarnessConfig, *, store: Store, dataset: str | None, run_id: str | None,
                       profile: str | None, agents: Mapping[str, Agent] | None, embedder: Embedder | None,
                       report_path: Any, progress: bool) -> ReleaseOutcome:
    """Replay wave by wave and look after each; score, gate (anytime-valid) and report at the stop."""
    from harness.gates.inputs import build_inputs
    from harness.gates.run import evaluate_gates
    from harness.metrics import metrics
    from harness.migration.gate import migration_checks
    from harness.outcome import ReleaseOutcome
    from harness.pricing import PriceTable
    from harness.replay import new_run_id, replay
    from harness.report import write_report
    from harness.scoring import Embedder, score_run

    name = dataset or config.replay.dataset
    run_id = run_id or new_run_id()
    settings, scoring = config.gates, config.scoring or ScoringConfig()
    embedder = embedder or Embedder.from_config(scoring)
    order = draw_order(store.dataset_units(name) if name else pl.DataFrame(), config.replay.seed, settings.cluster_by)
    position = {rid: i for i, rid in enumerate(r for unit in order for r in unit)}
    n_total = len(position)
    scorers = sorted({m.score for m in metrics().values() if m.score})
    look = len(store.looks(run_id))
    summary = report = reason = None
    for wave in waves(order, config.replay.wave_size):
        summary = replay(config, store=store, dataset=name, run_id=run_id, profile=profile, agents=agents,
                         progress=progress, only=wave)
        if summary.status in ("interrupted", "failed"):
            return ReleaseOutcome(store, summary)
        scores = score_run(store, run_id, scoring=scoring, judge=config.judge, tools=config.tools,
                  prices=PriceTable.with_overrides(config.prices), embedder=embedder, progress=progress)
        requests = store.gate_requests(run_id)
        inputs = reorder(build_inputs(requests, store.gate_responses(run_id), store.gate_scores(run_id, scorers),
                                      store.judge_diagnostics(run_id), settings),
                         requests["request_id"].to_list(), position)
        report = evaluate_gates(inputs, settings, run_id, segments=False, anytime=True,
                                extra_checks=migration_checks(store, config))
        n_used = requests.height
        reason = stop_reason(report, StopRule(n_used, n_total, settings.min_requests))
        if reason is None and summary.status == "budget_exhausted":
            reason = "budget_exhausted"
        if reason is None and n_used >= n_total:
            reason = "dataset_exhausted"
        look += 1
        spend = float(store.run_totals(run_id)["spend_usd"])
        store.save_look(run_id, {"look": look, "kind": "replay", "n_requests": n_used, "n_units": None,
                                 "spend_usd": spend, "decision": "continue" if reason is None else "stop",
                                 "verdict": report.verdict, "reason": reason, "checks": look_checks(report)})
        if reason is not None:
            break
    if summary is None or report is None or reason is None:
        raise ReplayError(f"dataset {name!r} has no requests to replay")
    result = SequentialSummary(reason, look, n_used, n_total, spend,
                               spend / n_used * (n_total - n_used) if n_used else 0.0, look_checks(report))
    _finish(store, run_id, report, result, settings)
    outcome = ReleaseOutcome(store, summary, scores=scores, gates=report)
    outcome.sequential = result
    outcome.report = write_report(store, run_id, report_path, config=config, allow_incomplete=True)
    return outcome


def _finish(store: Store, run_id: str, report: GateReport, result: SequentialSummary, settings: Any) -> None:
    """Save the last look's gates as the run's verdict, and mark a run that stopped early."""
    from harness.gates.run import result_row

    report.reasons.insert(1, result.sentence())
    rows = [result_row(r, name=f"sanity:{r.check_name}" if r.severity == "sanity" else r.check_name)
            for r in report.checks + report.sanity]
    store.save_gate_results(run_id, pl.DataFrame(rows, infer_schema_length=None), report.verdict, report.reasons,
                            {**settings.model_dump(mode="json"), "sequential": True}, [])
    if result.stop_reason in ("decided", "critical_fail") and result.saved_requests:
        store.update_run(run_id, status="stopped_early", message=result.sentence()
                         + f" Continue it to the full dataset with: harness run --run-id {run_id}")
    else:
        store.update_run(run_id, message=result.sentence())
