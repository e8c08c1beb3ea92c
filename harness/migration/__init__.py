"""Blue-green state migrations: validate a state-schema change over captured states before the switch.

    ingest_states(store, ["states.jsonl"], "prod-states", schema_version="v1")   # harness ingest-states
    outcome = check_migration(store, MigrationConfig(check="v1-to-v2", states="prod-states",
                              transform="my_migration:upgrade", schema="schema_v2.json"))   # migrate-check
    summary = migration_summary(store, "v1-to-v2")          # harness show-migration, the report section
    gate = migration_gate(store, config.migration)          # migration_error_rate, for the verdict
    migrated_state(store, "v1-to-v2", "user-42")            # the v2 state a replay gives the candidate
"""

from harness.migration.gate import CHECK_NAME, migration_checks, migration_gate
from harness.migration.ingest import ingest_states
from harness.migration.migrated import migrated_state, migrated_states
from harness.migration.runner import MigrationOutcome, check_migration, migration_config, new_check_id, plan_states
from harness.migration.summary import MigrationSummary, migration_summary

__all__ = [
    "CHECK_NAME",
    "MigrationOutcome",
    "MigrationSummary",
    "check_migration",
    "ingest_states",
    "migrated_state",
    "migrated_states",
    "migration_checks",
    "migration_config",
    "migration_gate",
    "migration_summary",
    "new_check_id",
    "plan_states",
]
