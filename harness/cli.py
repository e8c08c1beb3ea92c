"""The `harness` command line: each command parses options and calls one library function.

Exit codes: 0 success (proceed), 1 error, 2 bad usage, 3 pause_and_investigate, 4 rollback,
5 a replay that stopped before the end (budget or interrupt; rerun to resume), 130 Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from harness.errors import HarnessError, IncompleteRunError
from harness.names import InvalidNameError
from harness.secrets import scrub

app = typer.Typer(
    name="harness",
    help="Offline evaluation and shadow replay for AI agents: ingest captured traffic, replay it "
    "through prod and candidate, score, gate and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Not a terminal (CI logs, pipes): no hard wrapping, so messages stay greppable on one line.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)

EXIT_ERROR = 1
EXIT_INCOMPLETE = 5
EXIT_FOR_VERDICT = {"proceed": 0, "pause_and_investigate": 3, "rollback": 4}

DbOption = Annotated[
    Path | None,
    typer.Option("--db", envvar="HARNESS_DB", help="DuckDB file (default: ./harness.duckdb)."),
]
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="TOML config file.", exists=False)]
ProfileOption = Annotated[str | None, typer.Option("--profile", "-p", help="Config profile to apply.")]
DatasetOption = Annotated[str | None, typer.Option("--dataset", "-d", help="Dataset to replay (default: replay.dataset).")]
RunIdOption = Annotated[str | None, typer.Option("--run-id", help="Resume this run, or name a new one.")]
AllowIncompleteOption = Annotated[bool, typer.Option(
    "--allow-incomplete", help="Gate or report a run that stopped early on what it has (the verdict is then at most"
    " pause_and_investigate, and says how much of the run there is).")]

F = TypeVar("F", bound=Callable[..., Any])


def _handled(fn: F) -> F:
    """Turn HarnessError into a one-line message and exit code 1, Ctrl-C into 130."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IncompleteRunError as exc:
            err.print(f"[bold red]error:[/] {escape(scrub(str(exc)) or '')}: resume it with `harness replay"
                      " --run-id ...` to finish it, or pass --allow-incomplete to use what it has", highlight=False)
            raise typer.Exit(EXIT_ERROR) from None
        except InvalidNameError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        except HarnessError as exc:
            err.print(f"[bold red]error:[/] {escape(scrub(str(exc)) or '')}", highlight=False)
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


_global_db: Path | None = None


@app.callback()
def _main(db: DbOption = None) -> None:
    global _global_db
    _global_db = db


def _store(db: Path | None, read_only: bool = False, configured: str | None = None) -> Any:
    from harness.store import Store, resolve_db_path

    return Store(resolve_db_path(db or _global_db, configured), read_only=read_only)


def _table(frame: pl.DataFrame, title: str | None = None) -> Table:
    table = Table(title=Text(title) if title is not None else None, title_justify="left", header_style="bold")
    for name in frame.columns:
        table.add_column(name, overflow="fold")
    for row in frame.iter_rows():
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: Any) -> Text:
    """A table cell as plain text: data is never read as Rich markup."""
    if value is None:
        return Text("-")
    if isinstance(value, float):
        return Text(f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}")
    return Text(str(value))


_FORMAT_HELP = (
    "auto (from the content), or one of: jsonl (canonical JSON Lines); json (canonical records as a JSON "
    "array); csv; parquet; otel (OTLP JSON, GenAI spans); otel_sdk (SDK span dumps: console exporter, "
    '{"spans": [...]}); openinference or phoenix; openai_chat; openai_batch (input + output files; also '
    "openai_batch_input, openai_batch_output); langfuse; langsmith; inspect or inspect_ai (.eval, .json).")


@app.command()
@_handled
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
    store = _store(db, configured=cfg.db if cfg else None)
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
@_handled
def quarantine(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    export: Annotated[Path | None, typer.Option("--export", help="Write the raw malformed lines to this file.")] = None,
    db: DbOption = None,
) -> None:
    """List the malformed lines set aside when a dataset was ingested."""
    store = _store(db, read_only=True)
    store.dataset(name)
    frame = store.quarantine(name)
    if export is not None:
        export.write_text("".join(f"{raw}\n" for raw in frame["raw"].fill_null("").to_list()), encoding="utf-8")
        out.print(f"wrote {frame.height:,} lines to {export}", markup=False)
        return
    out.print(_table(frame.select("source", "line", "reason", pl.col("raw").str.slice(0, 80)),
                     title=f"quarantine of {name}: {frame.height:,} lines"))


@app.command()
@_handled
def replay(
    config: ConfigOption = Path("harness.toml"),
    dataset: DatasetOption = None,
    run_id: RunIdOption = None,
    profile: ProfileOption = None,
    db: DbOption = None,
) -> None:
    """Replay a dataset through prod, prod_repeat and candidate; prints the run id."""
    from harness.config import load_config

    cfg = load_config(config, profile=profile)
    store = _store(db, configured=cfg.db)
    summary = _replay(cfg, store, dataset, run_id, profile)
    if summary.status == "completed" and cfg.scoring is not None:
        _print_scores(_score(store, summary.run_id, cfg), console=err)
    out.print(summary.run_id, highlight=False)
    if summary.status not in ("completed",):
        raise typer.Exit(EXIT_INCOMPLETE)


def _score(store: Any, run_id: str, cfg: Any) -> Any:
    from harness.pricing import PriceTable
    from harness.scoring import score_run

    return score_run(store, run_id, scoring=cfg.scoring, judge=cfg.judge, tools=cfg.tools,
                     prices=PriceTable.with_overrides(cfg.prices))


@app.command()
@_handled
def score(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config with scoring and judge sections.")] = None,
    profile: ProfileOption = None,
    db: DbOption = None,
) -> None:
    """Score a run: similarity vs the noise floor, tool-call checks, LLM judge if configured. Incremental."""
    from harness.config import HarnessConfig, ScoringConfig, load_config

    cfg = load_config(config, profile=profile) if config else HarnessConfig()
    if cfg.scoring is None:
        cfg = cfg.model_copy(update={"scoring": ScoringConfig()})
    _print_scores(_score(_store(db, configured=cfg.db), run_id, cfg), console=out)


def _print_scores(summary: Any, console: Console) -> None:
    """The headline figures of a scoring pass, as sentences."""
    for line in describe_scores(summary):
        console.print(line, highlight=False, markup=False)


def describe_scores(summary: Any) -> list[str]:
    m = summary.mean
    lines = [f"scored {summary.run_id}: {summary.new_scores:,} new scores, {summary.texts_encoded:,} texts encoded,"
             f" {summary.texts_cached:,} from the cache ({summary.embedding_model}), {summary.elapsed_s:.1f}s"]
    cand, noise = m("similarity", "candidate", "prod"), m("similarity", "prod_repeat", "prod")
    if cand is not None:
        lines.append(f"  similarity to prod: candidate {cand:.3f}"
                     + (f", noise floor (prod_repeat vs prod) {noise:.3f}" if noise is not None else ""))
    ref = [(arm, m("similarity", arm, "reference")) for arm in ("prod", "candidate")]
    if all(v is not None for _, v in ref):
        lines.append("  similarity to reference answers: " + ", ".join(f"{a} {v:.3f}" for a, v in ref))
    f1 = [(arm, m("tool_f1_name", arm, "reference")) for arm in ("prod", "candidate")]
    if all(v is not None for _, v in f1):
        lines.append("  tool calls vs reference (F1 by name): " + ", ".join(f"{a} {v:.3f}" for a, v in f1))
    success = [(arm, m("action_match", arm, "reference")) for arm in ("prod", "candidate")]
    if all(v is not None for _, v in success):
        action_f1 = [(arm, m("action_f1", arm, "reference")) for arm in ("prod", "candidate")]
        lines.append("  write actions vs reference: task success " + ", ".join(f"{a} {v:.1%}" for a, v in success)
                     + "; action F1 " + ", ".join(f"{a} {v:.3f}" for a, v in action_f1 if v is not None))
    acted = [(arm, m("action_changed", arm, "prod")) for arm in ("candidate", "prod_repeat")]
    if acted[0][1] is not None:
        lines.append(f"  write actions changed from prod: candidate {acted[0][1]:.1%}"
                     + (f", prod_repeat {acted[1][1]:.1%} (noise)" if acted[1][1] is not None else ""))
    if summary.reference_variant:
        lines.append(f"  captured variant {summary.reference_variant!r} stands in for missing reference tool calls"
                     " ([scoring] reference_variant)")
    writes = [t["tool"] for t in summary.tool_classes if t["class"] == "write"]
    if summary.tool_classes:
        lines.append(f"  tools: {len(summary.tool_classes)} seen, write (actions): {', '.join(writes) or 'none'}")
    changed = [(arm, m("tool_set_changed", arm, "prod")) for arm in ("candidate", "prod_repeat")]
    if changed[0][1] is not None:
        lines.append(f"  tool set changed from prod: candidate {changed[0][1]:.1%}"
                     + (f", prod_repeat {changed[1][1]:.1%} (noise)" if changed[1][1] is not None else ""))
    if summary.judge is None:
        lines.append("  judge: not configured, so there is no LLM-judge quality figure (add [judge] to the config);"
                     " quality falls back to reference actions, else similarity with the reference answers")
    else:
        j = summary.judge
        q = [(arm, m("judge_quality", arm, "")) for arm in ("prod", "candidate")]
        lines.append(f"  judge {j['model']}: quality " + ", ".join(f"{a} {v:.3f}" for a, v in q if v is not None)
                     + f"; {j['called']:,} calls, {j['cached']:,} cached, {j['errors']:,} errors,"
                     f" evaluation cost ${j['cost_usd']:,.4f}")
        win = m("judge_pairwise", "candidate", "prod")
        if win is not None:
            lines.append(f"  judge pairwise: candidate net win rate vs prod {win:+.3f}")
    return lines


def _replay(cfg: Any, store: Any, dataset: str | None, run_id: str | None, profile: str | None) -> Any:
    from harness.replay import replay as run_replay

    summary = run_replay(cfg, store=store, dataset=dataset, run_id=run_id, profile=profile)
    err.print(summary.message, markup=False, highlight=False)
    return summary


@app.command()
@_handled
def runs(db: DbOption = None) -> None:
    """List runs, newest first."""
    frame = _store(db, read_only=True).runs().select(
        "run_id", "dataset", "status", "n_planned", "n_responses", "n_errors", "cost_usd",
        pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M"),
    )
    out.print(_table(frame, title=f"{frame.height} runs"))


@app.command()
@_handled
def show(run_id: Annotated[str, typer.Argument(help="Run id.")], db: DbOption = None) -> None:
    """Summarize one run: per arm count, errors, mean cost, p50/p95/p99 latency."""
    store = _store(db, read_only=True)
    run = store.run(run_id)
    out.print(f"[bold]{escape(run_id)}[/]  dataset {escape(run['dataset'])}  status [bold]{run['status']}[/]"
              f"  planned {run['n_planned']:,}  created {run['created_at']:%Y-%m-%d %H:%M:%S}")
    if run.get("message"):
        out.print(run["message"], highlight=False, markup=False)
    summary = store.arm_summary(run_id).select(
        "arm", "n", "errors", "error_rate", "mean_cost_usd", "p50_ms", "p95_ms", "p99_ms", "mean_tool_calls"
    )
    out.print(_table(summary, title="per arm"))
    errors = store.error_breakdown(run_id)
    if errors.height:
        out.print(_table(errors.with_columns(pl.col("example").str.slice(0, 80)), title="errors"))


@app.command()
@_handled
def demo(
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Where the log, config, DuckDB file and reports go.")] = Path("."),
    db: DbOption = None,
) -> None:
    """Run the whole pipeline on a generated customer-support log (prod v1 vs candidate v2)."""
    from harness.demo.run import run_demo

    outcome = run_demo(workdir, db=db or _global_db)
    r = outcome.replay
    out.print(f"\n[bold]demo finished[/]: run [bold]{escape(r.run_id)}[/], {r.n_done:,} responses, "
              f"{r.n_errors:,} errors, ${r.spend_usd:,.4f} simulated spend, {r.elapsed_s:.1f}s replay")
    _print_scores(outcome.scores, console=out)
    out.print(outcome.migration.message, markup=False, highlight=False)
    _print_verdict(outcome.gates)
    out.print(f"  captured log  {outcome.log}", markup=False)
    out.print(f"  v1 states     {outcome.states}", markup=False)
    out.print(f"  config        {outcome.config}", markup=False)
    out.print(f"  DuckDB        {outcome.db}", markup=False)
    out.print(f"  report        {outcome.report}", markup=False)
    out.print(f"  next: harness show {r.run_id} --db {outcome.db}", markup=False)
    out.print(f"        harness show-migration {outcome.migration.check_id} --db {outcome.db}", markup=False)


@app.command()
@_handled
def gate(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config with a gates section.")] = None,
    profile: ProfileOption = None,
    segments: Annotated[bool, typer.Option("--segments", help="Also print every segment's checks.")] = False,
    allow_incomplete: AllowIncompleteOption = False,
    db: DbOption = None,
) -> None:
    """Evaluate the quality gates: exit 0 proceed, 3 pause_and_investigate, 4 rollback."""
    from harness.config import HarnessConfig, load_config

    cfg = load_config(config, profile=profile) if config else HarnessConfig()
    report = _gate(_store(db, configured=cfg.db), run_id, cfg, show_segments=segments,
                   allow_incomplete=allow_incomplete)
    raise typer.Exit(EXIT_FOR_VERDICT[report.verdict])


def _gate(store: Any, run_id: str, cfg: Any, *, show_segments: bool = False, allow_incomplete: bool = False) -> Any:
    from harness.gates import gate_run
    from harness.migration import migration_checks

    report = gate_run(store, run_id, cfg.gates, allow_incomplete=allow_incomplete,
                      extra_checks=migration_checks(store, cfg))
    _print_gates(report, show_segments)
    return report


def _print_gates(report: Any, show_segments: bool) -> None:
    from harness.gates.describe import limit_text, value_text

    rows = report.checks + report.sanity + (report.segments if show_segments else [])
    table = Table(title=f"gates of {escape(report.run_id)}", title_justify="left", header_style="bold")
    for name in ("check", "segment", "severity", "status", "estimate", "95% CI", "limit", "noise band", "n"):
        table.add_column(name, overflow="fold")
    colours = {"pass": "green", "fail": "red", "inconclusive": "yellow", "nodata": "yellow", "skipped": "dim",
               "unreliable": "yellow", "fail_prod_too": "yellow"}
    for r in rows:
        interval = f"{value_text(r, r.ci_low)} .. {value_text(r, r.ci_high)}" if r.ci_low is not None else "-"
        segment = Text(f"{r.segment_key}={r.segment_value}" if r.segment_key else "")  # metadata: plain text
        table.add_row(Text(r.check_name), segment, r.severity,
                      f"[{colours.get(r.status, 'white')}]{r.status}[/]", value_text(r, r.estimate), interval,
                      limit_text(r), "-" if r.noise_band is None else f"{r.noise_band:.3g}", f"{r.n:,}")
    out.print(table)
    _print_verdict(report)


def _print_verdict(report: Any) -> None:
    colour = {"proceed": "green", "pause_and_investigate": "yellow", "rollback": "red"}[report.verdict]
    out.print(f"verdict: [bold {colour}]{report.verdict}[/]")
    for reason in report.reasons:
        out.print(f"  - {reason}", highlight=False, markup=False)


@app.command("run")
@_handled
def run_release(
    config: ConfigOption = Path("harness.toml"),
    dataset: DatasetOption = None,
    run_id: RunIdOption = None,
    profile: ProfileOption = None,
    allow_incomplete: AllowIncompleteOption = False,
    db: DbOption = None,
) -> None:
    """The release job: replay, score, gate and report in one go; exit code as `harness gate`."""
    from harness.config import load_config

    _release_job(load_config(config, profile=profile), db, dataset, run_id, profile, allow_incomplete)


@app.command()
@_handled
def compare(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="A dataset whose log holds several captured variants.")],
    candidate: Annotated[str, typer.Option("--candidate", help="Captured variant that is the candidate (e.g. shadow, canary).")],
    prod: Annotated[str, typer.Option("--prod", help="Captured variant that is production.")] = "prod",
    prod_repeat: Annotated[str | None, typer.Option("--prod-repeat", help="A second prod variant: the noise floor.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config for scoring, judge, gates and release.")] = None,
    run_id: RunIdOption = None,
    allow_incomplete: AllowIncompleteOption = False,
    db: DbOption = None,
) -> None:
    """Compare captured shadow or canary variants without calling anything: score, gate, report."""
    from harness.agents.captured import CapturedAgentConfig
    from harness.config import HarnessConfig, load_config

    cfg = load_config(config) if config else HarnessConfig()
    _check_variants(_store(db, read_only=True, configured=cfg.db), dataset,
                    {"--candidate": candidate, "--prod": prod, "--prod-repeat": prod_repeat})
    agents = {"prod": CapturedAgentConfig(kind="captured", variant=prod),
              "candidate": CapturedAgentConfig(kind="captured", variant=candidate)}
    if prod_repeat is not None:
        agents["prod_repeat"] = CapturedAgentConfig(kind="captured", variant=prod_repeat)
    replay = cfg.replay.model_copy(update={"prod_repeat_fraction": 1.0 if prod_repeat else 0.0})
    _release_job(cfg.model_copy(update={"agents": agents, "replay": replay}), db, dataset, run_id, None,
                 allow_incomplete)


def _check_variants(store: Any, dataset: str, wanted: dict[str, str | None]) -> None:
    """A usage error when a variant compare is asked for is not in the dataset, listing those it has."""
    store.dataset(dataset)
    for option, variant in wanted.items():
        if variant is not None and store.captured_error_rate(dataset, variant)[1] == 0:
            present = sorted(store.captured(dataset).get_column("variant").unique().to_list())
            have = ", ".join(present) if present else "none (the log holds no captured outputs)"
            raise typer.BadParameter(f"dataset {dataset!r} has no captured variant {variant!r}; it has: {have}",
                                     param_hint=option)


def _release_job(cfg: Any, db: Path | None, dataset: str | None, run_id: str | None, profile: str | None,
                 allow_incomplete: bool = False) -> None:
    """Replay (or read captured variants), score, gate, report; exits with the verdict's code."""
    from harness.config import ScoringConfig
    from harness.report import write_report

    if cfg.scoring is None:
        cfg = cfg.model_copy(update={"scoring": ScoringConfig()})
    store = _store(db, configured=cfg.db)
    summary = _replay(cfg, store, dataset, run_id, profile)
    if summary.status != "completed" and not allow_incomplete:
        err.print(f"run {summary.run_id} is {summary.status}: not gating an incomplete run (rerun with the same"
                  " --run-id to finish it, or pass --allow-incomplete)", markup=False)
        raise typer.Exit(EXIT_INCOMPLETE)
    _print_scores(_score(store, summary.run_id, cfg), console=err)
    report = _gate(store, summary.run_id, cfg, allow_incomplete=allow_incomplete)
    path = write_report(store, summary.run_id, config=cfg, allow_incomplete=allow_incomplete)
    out.print(f"run id: {summary.run_id}", highlight=False, markup=False)
    out.print(f"report: {path}", highlight=False, markup=False)
    raise typer.Exit(EXIT_FOR_VERDICT[report.verdict])


@app.command()
@_handled
def report(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML file (default: reports/<run_id>.html).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config whose release, canary and gates sections to use (default: the run's own).")] = None,
    profile: ProfileOption = None,
    allow_incomplete: AllowIncompleteOption = False,
    db: DbOption = None,
) -> None:
    """Write the release report: one self-contained HTML file with the pre-deploy checklist filled in."""
    from harness.config import load_config
    from harness.report import write_report

    cfg = load_config(config, profile=profile) if config else None
    store = _store(db, read_only=True, configured=cfg.db if cfg else None)
    path = write_report(store, run_id, output, config=cfg, allow_incomplete=allow_incomplete)
    out.print(str(path), highlight=False, markup=False)


@app.command("canary-plan")
@_handled
def canary_plan(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset whose users and traffic to plan with.")],
    steps: Annotated[str | None, typer.Option("--steps", help="Rollout steps in percent of users, e.g. 5,20,50,100.")] = None,
    duration: Annotated[str | None, typer.Option("--duration", help="How long each step runs: 24h, 90m, 2d.")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="A run of this dataset to take the baselines from.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config with canary and gates sections.")] = None,
    db: DbOption = None,
) -> None:
    """Plan a canary: users by stable hash per step, traffic share, detectable effects."""
    from harness.canary import plan_canary
    from harness.config import HarnessConfig, load_config

    cfg = load_config(config) if config else HarnessConfig()
    updates: dict[str, Any] = {}
    if steps:
        updates["steps"] = _percentages(steps, "--steps")
    if duration:
        updates["duration_h"] = _hours(duration)
    canary = cfg.canary.model_copy(update=updates)
    plan = plan_canary(_store(db, read_only=True, configured=cfg.db), dataset, canary, cfg.gates, run_id)
    table = Table(title=Text(f"canary plan for {dataset}: {plan.duration_h:g} h per step, "
                        f"{plan.requests_per_hour:,.1f} requests/h, {plan.confidence:.0%} confidence, "
                        f"{plan.power:.0%} power"), title_justify="left", header_style="bold")
    for name in ("step", "users", "user share", "traffic share", "canary requests", "MDE error rate", "MDE quality"):
        table.add_column(name, justify="right")
    for st in plan.steps:
        table.add_row(f"{st.percent:g}%", f"{st.users:,}", f"{st.user_share:.1%}", f"{st.traffic_share:.1%}",
                      f"{st.requests:,.0f}", f"+{100 * st.mde_error_rate:.1f} pts", f"{st.mde_quality:.3f}")
    out.print(table)
    out.print(f"baseline error rate {plan.baseline_error_rate:.2%} from {plan.error_rate_source}; quality spread"
              f" (sd) {plan.quality_sd:.3f} from {plan.quality_source}", highlight=False, markup=False)
    out.print(f"users are assigned by sha256('{canary.salt}:' + user_id): stable on any machine, nested across"
              f" steps; {plan.units_without_user:,} of {plan.units:,} units had no user_id and count per request",
              highlight=False, markup=False)


def _percentages(text: str, option: str) -> list[float]:
    """'5,20,50,100' as percentages of users, each above 0 and at most 100."""
    try:
        values = [float(s) for s in text.split(",")]
    except ValueError:
        raise typer.BadParameter("comma-separated percentages, e.g. 5,20,50,100", param_hint=option) from None
    if any(not 0 < v <= 100 for v in values):
        raise typer.BadParameter("each step must be above 0 and at most 100", param_hint=option)
    return values


def _hours(text: str) -> float:
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([hmd]?)\s*", text)
    if not match:
        raise typer.BadParameter("a duration like 24h, 90m or 2d", param_hint="--duration")
    value, unit = float(match.group(1)), match.group(2) or "h"
    return value * {"h": 1, "m": 1 / 60, "d": 24}[unit]


@app.command("ingest-states")
@_handled
def ingest_states(
    paths: Annotated[list[Path], typer.Argument(help="State snapshots: JSON Lines, Parquet, or a DuckDB / SQLite file with --query.")],
    name: Annotated[str, typer.Option("--name", "-n", help="State set name.")],
    schema_version: Annotated[str, typer.Option("--schema-version", help="The schema version these states are in, e.g. v1.")],
    query: Annotated[str | None, typer.Option("--query", "-q", help="For a DuckDB or SQLite file: SQL returning key, state and (optional) updated_at columns.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="auto, jsonl, parquet, duckdb or sqlite.")] = "auto",
    strict: Annotated[bool, typer.Option("--strict", help="Any malformed row fails the load; nothing is written.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a state set of the same name.")] = False,
    db: DbOption = None,
) -> None:
    """Load state snapshots into an immutable state set; malformed rows are set aside with file, line and reason."""
    from harness.migration import ingest_states as run_ingest_states

    summary = run_ingest_states(_store(db), paths, name, schema_version=schema_version, query=query, fmt=fmt,
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
@_handled
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
            cohorts=_percentages(cohort, "--cohort") if cohort else None, timeout_s=timeout, workers=workers)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    store = _store(db, configured=cfg.db)
    outcome = check_migration(store, migration, canary=cfg.canary, base_dir=cfg.base_dir if config else Path.cwd(),
                              replace=replace)
    err.print(outcome.message, markup=False, highlight=False)
    summary = migration_summary(store, outcome.check_id)
    result = migration_gate(store, migration, alpha=cfg.gates.alpha, summary=summary)
    _print_migration(summary, result)
    if outcome.status != "completed":
        raise typer.Exit(EXIT_INCOMPLETE)
    if result.status == "pass":
        return
    raise typer.Exit(EXIT_FOR_VERDICT["rollback"] if result.status == "fail" and result.severity == "critical"
                     else EXIT_FOR_VERDICT["pause_and_investigate"])


@app.command("show-migration")
@_handled
def show_migration(
    check_id: Annotated[str | None, typer.Argument(help="Migration check id (without one: list state sets and checks).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config whose migration section gives the gate settings.")] = None,
    db: DbOption = None,
) -> None:
    """Summarize a migration check: outcomes, per canary step, top errors, field changes, the gate."""
    from harness.config import HarnessConfig, MigrationConfig, load_config
    from harness.migration import migration_gate, migration_summary

    cfg = load_config(config) if config else HarnessConfig()
    store = _store(db, read_only=True, configured=cfg.db)
    if check_id is None:
        out.print(_table(store.state_sets().select("name", "schema_version", "n_states", "n_quarantined", "format",
                                                   pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M")),
                         title="state sets"))
        out.print(_table(store.migration_checks().with_columns(pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M"))
                         .drop("finished_at"), title="migration checks"))
        return
    summary = migration_summary(store, check_id)
    gate = cfg.migration if cfg.migration is not None and cfg.migration.check == check_id else MigrationConfig(check=check_id)
    _print_migration(summary, migration_gate(store, gate, alpha=cfg.gates.alpha, summary=summary))


def _print_migration(summary: Any, result: Any) -> None:
    """A migration check as tables: outcomes, canary steps, error kinds with an example, field changes."""
    c = summary.check
    s = c["settings"]
    out.print(Text(f"{c['check_id']}  state set {c['state_set']} ({summary.schema_version})  status {c['status']}"
                   f"  scope {c['scope']}  {summary.n_checked:,} of {c['n_planned']:,} states checked"))
    out.print(Text(f"transform {s['transform']}  schema {s['schema']}  invariants {s['invariants'] or '-'}"
                   f"  idempotent {'yes' if s['idempotent'] else 'not declared'}"))
    out.print(_table(pl.DataFrame({"outcome": list(summary.outcomes), "states": list(summary.outcomes.values())}),
                     title="outcomes"))
    if summary.cohorts:
        out.print(_table(pl.DataFrame(summary.cohorts).rename({"percent": "canary step %", "n": "states",
                                                               "n_not_ok": "not ok"}), title="per canary step"))
    if summary.errors:
        rows = [{"outcome": e["outcome"], "kind": e["error_kind"], "path": e["error_path"], "states": e["n"],
                 "example": f"{e['examples'][0]['key']}: {(e['examples'][0]['message'] or '')[:100]}"}
                for e in summary.errors]
        out.print(_table(pl.DataFrame(rows), title="top error kinds"))
    if summary.fields:
        out.print(_table(pl.DataFrame(summary.fields), title="field changes (share of migrated states)"))
    out.print(result.sentence, markup=False, highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
