"""Commands about datasets: ingest captured logs, look at what was set aside."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from harness.cli.common import DbConfigOption, DbOption, app, configured_db, err, handled, out, store_for, table

_FORMAT_HELP = (
    "auto (from the content), or one of: jsonl (canonical JSON Lines); json or json_array (canonical records as a"
    " JSON array); csv; parquet; otel (OTLP JSON, GenAI spans); otel_sdk (SDK span dumps: console exporter, "
    '{"spans": [...]}); openinference or phoenix; openai_chat; openai_batch (input + output files; also '
    "openai_batch_input, openai_batch_output); langfuse; langsmith; inspect or inspect_ai (.eval, .json).")



@app.command()
@handled
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Captured log files, gzipped or not (formats: see --format).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP)] = "auto",
    strict: Annotated[bool, typer.Option("--strict", help="Any malformed line fails the ingest; nothing is written.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a dataset of the same name.")] = False,
    redact: Annotated[bool, typer.Option("--redact", help="Replace emails, phones, cards, IPs and API keys with placeholders.")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config; its redaction section, when present, is applied.")] = None,
    variant_from: Annotated[str | None, typer.Option("--variant-from", help=(
        "Take each trace's captured variant from this attribute instead of 'prod': a resource or span "
        "attribute (service.version, deployment.environment), a Langfuse release/version/environment or "
        "metadata key, a LangSmith revision_id or metadata key, an Inspect eval's model or task_version, "
        "a batch's model or metadata key; tag:NAME reads a tag NAME:value."))] = None,
    db: DbOption = None,
) -> None:
    """Ingest captured logs into an immutable dataset; malformed lines go to the quarantine."""
    from harness.config import RedactionConfig, load_config
    from harness.ingest import ingest as run_ingest

    cfg = load_config(config) if config else None
    settings = cfg.redaction if cfg is not None else None
    if redact and settings is None:
        settings = RedactionConfig()
    store = store_for(db, configured=cfg.db if cfg else None)
    summary = run_ingest(store, paths, name, fmt=fmt, strict=strict, replace=replace, redact=settings,
                         variant_from=variant_from)
    if summary.unchanged:
        out.print(f"dataset [bold]{escape(name)}[/] already holds exactly this content: nothing to do")
        return
    verb = "replaced" if summary.replaced else "ingested"
    out.print(
        f"{verb} dataset [bold]{escape(name)}[/]: {summary.n_requests:,} requests, "
        f"{summary.n_captured:,} captured outputs, {summary.n_quarantined:,} malformed lines set aside"
    )
    if summary.redaction is not None:
        counts = summary.redaction["counts"]
        out.print("redacted: " + (", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.items())) or "nothing found"),
                  highlight=False)
    for bad in sorted(summary.quarantined, key=lambda m: (m.source, m.line or 0))[:10]:
        err.print(f"  [yellow]{escape(bad.source)}:{bad.line}[/]: {escape(bad.reason)}", highlight=False)
    if summary.n_quarantined:
        err.print(f"  see them all with: harness quarantine {name}", markup=False)



@app.command()
@handled
def quarantine(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    export: Annotated[Path | None, typer.Option("--export", help="Write the raw malformed lines to this file.")] = None,
    config: DbConfigOption = None,
    db: DbOption = None,
) -> None:
    """List the malformed lines set aside when a dataset was ingested."""
    import polars as pl

    store = store_for(db, read_only=True, configured=configured_db(config))
    store.dataset(name)
    frame = store.quarantine(name)
    if export is not None:
        export.write_text("".join(f"{raw}\n" for raw in frame["raw"].fill_null("").to_list()), encoding="utf-8")
        out.print(f"wrote {frame.height:,} lines to {export}", markup=False)
        return
    out.print(table(frame.select("source", "line", "reason", pl.col("raw").str.slice(0, 80)),
                     title=f"quarantine of {name}: {frame.height:,} lines"))


@app.command()
@handled
def datasets(config: DbConfigOption = None, db: DbOption = None) -> None:
    """List the datasets: name, requests, captured outputs, malformed lines, format, redaction, created."""
    import polars as pl

    frame = store_for(db, read_only=True, configured=configured_db(config)).datasets()
    shown = frame.select(
        "name", pl.col("n_requests").alias("requests"), pl.col("n_captured").alias("captured"),
        pl.col("n_quarantined").alias("malformed"), "format",
        pl.when(pl.col("redacted")).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("redacted"),
        pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M").alias("created"),
    )
    out.print(table(shown, title=f"{frame.height} datasets"))
