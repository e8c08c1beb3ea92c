"""Commands about state migrations: load state snapshots, check a migration over them, show a check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from harness.cli.common import (
    EXIT_FOR_VERDICT,
    EXIT_INCOMPLETE,
    DbConfigOption,
    DbOption,
    ProfileOption,
    app,
    cli_words,
    configured_db,
    err,
    handled,
    out,
    percentages,
    store_for,
    table,
)
from harness.cli.printing import print_migration


@app.command("ingest-states")
@handled
def ingest_states(
    paths: Annotated[list[Path], typer.Argument(help="State snapshots: JSON Lines, Parquet, or a DuckDB / SQLite file with --query.")],
    name: Annotated[str, typer.Option("--name", "-n", help="State set name.")],
    schema_version: Annotated[str, typer.Option("--schema-version", help="The schema version these states are in, e.g. v1.")],
    query: Annotated[str | None, typer.Option("--query", "-q", help="For a DuckDB or SQLite file: SQL returning key, state and (optional) updated_at columns.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="auto, jsonl, parquet, duckdb or sqlite.")] = "auto",
    strict: Annotated[bool, typer.Option("--strict", help="Any malformed row fails the load; nothing is written.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a state set of the same name.")] = False,
    config: DbConfigOption = None,
    db: DbOption = None,
) -> None:
    """Load state snapshots into an immutable state set; malformed rows are set aside with file, line and reason."""
    from harness.migration import ingest_states as run_ingest_states

    summary = run_ingest_states(store_for(db, configured=configured_db(config)), paths, name, schema_version=schema_version, query=query, fmt=fmt,
                                strict=strict, replace=replace)
    if summary.unchanged:
        out.print(f"state set [bold]{escape(name)}[/] already holds exactly this content: nothing to do")
        return
    out.print(f"{'replaced' if summary.replaced else 'ingested'} state set [bold]{escape(name)}[/]"
              f" ({escape(schema_version)}): {summary.n_states:,} states, {summary.n_bytes / 1e6:,.1f} MB,"
              f" {summary.n_quarantined:,} malformed rows set aside")
    for bad in summary.quarantined[:10]:
        err.print(f"  [yellow]{escape(bad.source)}:{bad.line}[/]: {escape(bad.reason)}", highlight=False)



@app.command("migrate-check")
@handled
def migrate_check(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config whose migration section gives the defaults (and canary section the user hash).")] = None,
    states: Annotated[str | None, typer.Option("--states", help="State set to migrate (harness ingest-states --name).")] = None,
    transform: Annotated[str | None, typer.Option("--transform", help="module:function taking a state dict, returning the migrated one.")] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="Target schema: a JSON Schema file or module:Model (pydantic).")] = None,
    invariants: Annotated[str | None, typer.Option("--invariants", help="module:function(old, new) returning {invariant name: holds}.")] = None,
    idempotent: Annotated[bool | None, typer.Option("--idempotent/--not-idempotent", help="Declare the transform idempotent: re-applying it must change nothing.")] = None,
    already_migrated: Annotated[list[str] | None, typer.Option("--already-migrated", help="module:ExceptionClass a re-applied transform may raise instead (repeatable).")] = None,
    sample: Annotated[int | None, typer.Option("--sample", help="Check only the N users the canary reaches first.")] = None,
    cohort: Annotated[str | None, typer.Option("--cohort", help="Canary steps in percent of users, e.g. 5,20,100; results per step.")] = None,
    check_id: Annotated[str | None, typer.Option("--check-id", help="Resume this check, or name a new one (default: migration.check of the config, else a new id).")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds per state (default 10).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes (default: one per CPU).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Forget an earlier check of this id and redo it.")] = False,
    profile: ProfileOption = None,
    db: DbOption = None,
) -> None:
    """Check a state migration over every captured state: exit 0 all ok, 3 undecided, 4 broken states, 5 interrupted."""
    from harness.config import HarnessConfig, load_config
    from harness.errors import ConfigError
    from harness.migration import check_migration, migration_config, migration_gate, migration_summary

    cfg = load_config(config, profile=profile) if config else HarnessConfig()
    try:
        migration = migration_config(
            cfg.migration, check=check_id, states=states, transform=transform,
            schema=str(Path(schema).resolve()) if schema and Path(schema).is_file() else schema,
            invariants=invariants, idempotent=idempotent, already_migrated=already_migrated or None, sample=sample,
            cohorts=percentages(cohort, "--cohort") if cohort else None, timeout_s=timeout, workers=workers)
    except ConfigError as exc:
        raise typer.BadParameter(cli_words(str(exc))) from None
    store = store_for(db, configured=cfg.db)
    outcome = check_migration(store, migration, canary=cfg.canary, base_dir=cfg.base_dir if config else Path.cwd(),
                              replace=replace)
    err.print(outcome.message, markup=False, highlight=False)
    summary = migration_summary(store, outcome.check_id)
    result = migration_gate(store, migration, alpha=cfg.gates.alpha, summary=summary)
    print_migration(summary, result)
    if outcome.status != "completed":
        raise typer.Exit(EXIT_INCOMPLETE)
    if result.status == "pass":
        return
    raise typer.Exit(EXIT_FOR_VERDICT["rollback"] if result.status == "fail" and result.severity == "critical"
                     else EXIT_FOR_VERDICT["pause_and_investigate"])



@app.command("show-migration")
@handled
def show_migration(
    check_id: Annotated[str | None, typer.Argument(help="Migration check id (without one: list state sets and checks).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config whose migration section gives the gate settings.")] = None,
    db: DbOption = None,
) -> None:
    """Summarize a migration check: outcomes, per canary step, top errors, field changes, the gate."""
    import polars as pl

    from harness.config import HarnessConfig, MigrationConfig, load_config
    from harness.migration import migration_gate, migration_summary

    cfg = load_config(config) if config else HarnessConfig()
    store = store_for(db, read_only=True, configured=cfg.db)
    if check_id is None:
        out.print(table(store.state_sets().select("name", "schema_version", "n_states", "n_quarantined", "format",
                                                   pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M")),
                         title="state sets"))
        out.print(table(store.migration_checks().with_columns(pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M"))
                         .drop("finished_at"), title="migration checks"))
        return
    summary = migration_summary(store, check_id)
    gate = cfg.migration if cfg.migration is not None and cfg.migration.check == check_id else MigrationConfig(check=check_id)
    print_migration(summary, migration_gate(store, gate, alpha=cfg.gates.alpha, summary=summary))
