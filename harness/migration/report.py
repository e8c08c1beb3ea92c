"""The release report's state-migration section and checklist line, as plain data.

The report shows it when the config's [migration] section names a check. The gate's status
is the one stored with the run's verdict when the run was gated with that same check, else it
is evaluated now from the store (and says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from harness.config import HarnessConfig
from harness.errors import NotFoundError
from harness.migration.gate import CHECK_NAME, migration_gate
from harness.migration.summary import MigrationSummary, migration_summary
from harness.store import Store

__all__ = ["CHECKLIST_TITLE", "MigrationSection", "migration_section"]

CHECKLIST_TITLE = "State migration validated"
_CHECKLIST_STATUS = {"pass": "done", "fail": "attention", "inconclusive": "attention", "nodata": "missing"}


@dataclass
class MigrationSection:
    check_id: str
    summary: MigrationSummary | None
    """None when the named check is not in the store."""
    gate: dict[str, Any]
    """status, severity, sentence, estimate, ci_low, ci_high, threshold, n; `in_verdict` when stored with it."""
    checklist: dict[str, Any]
    """title, status (done / attention / missing), evidence, anchor: a ChecklistItem's fields."""


def migration_section(store: Store, config: HarnessConfig, gate_results: pl.DataFrame) -> MigrationSection | None:
    """The section for a run's report; `gate_results` are the run's overall gate rows."""
    if config.migration is None:
        return None
    check_id = config.migration.check
    try:
        summary: MigrationSummary | None = migration_summary(store, check_id)
    except NotFoundError:
        summary = None
    stored = [row for row in gate_results.filter(pl.col("check_name") == CHECK_NAME).to_dicts()
              if json.loads(row["details"] or "{}").get("check_id") == check_id]
    if stored:
        gate = stored[0] | {"in_verdict": True}
    else:
        result = migration_gate(store, config.migration, alpha=config.gates.alpha, summary=summary)
        gate = {"status": result.status, "severity": result.severity, "sentence": result.sentence,
                "estimate": result.estimate, "ci_low": result.ci_low, "ci_high": result.ci_high,
                "threshold": result.threshold, "n": result.n, "in_verdict": False}
    evidence = [gate["sentence"]]
    if summary is not None:
        evidence.append(summary.settings_line())
        evidence += [f"{e['outcome']} · {e['error_kind']}{' at ' + e['error_path'] if e['error_path'] else ''}:"
                     f" {e['n']:,} state{'s' if e['n'] != 1 else ''}" for e in summary.errors[:3]]
    if not gate["in_verdict"]:
        evidence.append("This run's verdict was reached without it: gate the run with this config to include it.")
    checklist = {"title": CHECKLIST_TITLE, "status": _CHECKLIST_STATUS.get(gate["status"], "attention"),
                 "evidence": evidence, "anchor": "migration"}
    return MigrationSection(check_id, summary, gate, checklist)
