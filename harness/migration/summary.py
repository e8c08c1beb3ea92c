"""What a migration check found, read back from the store: for `harness show-migration`, the
release report's section and notebooks.

Counts per outcome and per canary step, the most frequent error kinds with a few examples,
and field-level statistics (fields added, dropped, retyped, become null, with the share of
migrated states each concerns). Keys in examples are redacted like the messages already are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.migration.worker import short_message
from harness.store import Store

__all__ = ["MigrationSummary", "migration_summary"]


@dataclass
class MigrationSummary:
    check: dict[str, Any]
    """The check's row: check_id, state_set, status, scope, settings, n_planned, n_checked, dates."""
    schema_version: str | None
    outcomes: dict[str, int]
    cohorts: list[dict[str, Any]]
    """Per canary step (cumulative): percent, n, n_not_ok."""
    errors: list[dict[str, Any]]
    """outcome, error_kind, error_path, n, examples [{key, message}]."""
    fields: list[dict[str, Any]]
    """path, change, n_states, share, types."""

    @property
    def n_checked(self) -> int:
        return sum(self.outcomes.values())

    @property
    def n_not_ok(self) -> int:
        return self.n_checked - self.outcomes.get("ok", 0)

    def settings_line(self) -> str:
        """What was checked, in one line: state set, scope, transform, schema, invariants, idempotence."""
        c, s = self.check, self.check["settings"]
        return (f"{self.n_checked:,} of {c['n_planned']:,} states of {c['state_set']} ({self.schema_version},"
                f" {c['scope']}) through {s['transform']}, validated against {s['schema']}"
                + (f", invariants {s['invariants']}" if s["invariants"] else ", no invariants")
                + (", idempotence checked" if s["idempotent"] else ", idempotence not declared") + ".")

    @property
    def complete(self) -> bool:
        """Every state of the check's scope has a result."""
        return self.check["status"] == "completed" and self.n_checked >= self.check["n_planned"]


def migration_summary(store: Store, check_id: str, *, top_errors: int = 10, top_fields: int = 25) -> MigrationSummary:
    """A check's results, aggregated in DuckDB; NotFoundError for an unknown check."""
    check = store.migration_check(check_id)
    errors = store.migration_error_kinds(check_id, top_errors).to_dicts()
    for row in errors:
        row["examples"] = [{"key": short_message(e["key"]), "message": e["message"]} for e in row["examples"]]
    sets = store.state_sets()
    versions = sets.filter(sets["name"] == check["state_set"])["schema_version"].to_list()
    return MigrationSummary(check, versions[0] if versions else None, store.migration_outcomes(check_id),
                            store.migration_cohorts(check_id).to_dicts(), errors,
                            store.migration_field_stats(check_id, top_fields).to_dicts())
