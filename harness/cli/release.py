"""Release commands: the demo, the gates, the release job, captured comparisons, reports, canary plans."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from harness.cli.common import (
    EXIT_INCOMPLETE,
    AllowIncompleteOption,
    ConfigOption,
    DatasetOption,
    DbOption,
    FailOn,
    FailOnOption,
    NoPreflightOption,
    ProfileOption,
    RunIdOption,
    app,
    err,
    given_db,
    handled,
    hours,
    out,
    percentages,
    preflight_setting,
    store_for,
    verdict_exit,
)
from harness.cli.printing import print_gates, print_scores, print_verdict
from harness.cli.runs import resumable


@app.command()
@handled
def demo(
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Where the log, config, DuckDB file and reports go.")] = Path("."),
    db: DbOption = None,
) -> None:
    """Run the whole pipeline on a generated customer-support log (prod v1 vs candidate v2)."""
    from harness.demo.run import run_demo

    outcome = run_demo(workdir, db=given_db(db))
    r = outcome.replay
    out.print(f"\ndemo finished: run {r.run_id}, {r.n_done:,} responses, {r.n_errors:,} errors,"
              f" ${r.spend_usd:,.4f} simulated spend, {r.elapsed_s:.1f}s replay", markup=False, highlight=False)
    print_scores(outcome.scores, console=out)
    out.print(outcome.migration.message, markup=False, highlight=False)
    out.print(f"payments service: {outcome.refunds_received:,} refund requests received; {outcome.refunds_intended:,}"
              " intended refunds blocked by the tool sandbox (tool_events)", markup=False, highlight=False)
    print_verdict(outcome.gates)
    for label, path in (("captured log", outcome.log), ("v1 states", outcome.states), ("config", outcome.config),
                        ("DuckDB", outcome.db), ("report", outcome.report)):
        out.print(f"  {label:<13} {path}", markup=False, highlight=False)


@app.command()
@handled
def gate(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config with a gates section.")] = None,
    profile: ProfileOption = None,
    segments: Annotated[bool, typer.Option("--segments", help="Also print every segment's checks.")] = False,
    allow_incomplete: AllowIncompleteOption = False,
    fail_on: FailOnOption = None,
    db: DbOption = None,
) -> None:
    """Evaluate the quality gates: exit 0 proceed, 3 pause_and_investigate, 4 rollback (see --fail-on)."""
    from harness.config import HarnessConfig, load_config
    from harness.gates import gate_run
    from harness.migration.gate import migration_checks

    cfg = load_config(config, profile=profile) if config else HarnessConfig()
    store = store_for(db, configured=cfg.db)
    report = gate_run(store, run_id, cfg.gates, allow_incomplete=allow_incomplete,
                      extra_checks=migration_checks(store, cfg))
    print_gates(report, segments)
    raise typer.Exit(verdict_exit(report.verdict, fail_on))


@app.command("run")
@handled
def run_release(
    config: ConfigOption = Path("harness.toml"),
    dataset: DatasetOption = None,
    run_id: RunIdOption = None,
    profile: ProfileOption = None,
    allow_incomplete: AllowIncompleteOption = False,
    sequential: Annotated[bool, typer.Option("--sequential", help="Replay in waves and stop once the anytime-valid gates decide ([replay] sequential).")] = False,
    fail_on: FailOnOption = None,
    no_preflight: NoPreflightOption = False,
    db: DbOption = None,
) -> None:
    """The release job: replay, score, gate and report in one go; exit code as `harness gate`."""
    from harness.config import load_config

    cfg = preflight_setting(load_config(config, profile=profile), no_preflight)
    if sequential:
        cfg = cfg.model_copy(update={"replay": cfg.replay.model_copy(update={"sequential": True})})
    _release_job(cfg, db, dataset, run_id, profile, allow_incomplete, fail_on)


@app.command()
@handled
def compare(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="A dataset whose log holds several captured variants.")],
    candidate: Annotated[str, typer.Option("--candidate", help="Captured variant that is the candidate (e.g. shadow, canary).")],
    prod: Annotated[str, typer.Option("--prod", help="Captured variant that is production.")] = "prod",
    prod_repeat: Annotated[str | None, typer.Option("--prod-repeat", help="A second prod variant: the noise floor.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Config for scoring, judge, gates and release.")] = None,
    run_id: RunIdOption = None,
    allow_incomplete: AllowIncompleteOption = False,
    fail_on: FailOnOption = None,
    db: DbOption = None,
) -> None:
    """Compare captured shadow or canary variants without calling anything: score, gate, report."""
    from harness.config import HarnessConfig, load_config
    from harness.pipeline import UnknownVariantError, captured_comparison, check_variants

    cfg = load_config(config) if config else HarnessConfig()
    try:
        check_variants(store_for(db, read_only=True, configured=cfg.db), dataset,
                       {"candidate": candidate, "prod": prod, "prod_repeat": prod_repeat})
    except UnknownVariantError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"--{exc.role.replace('_', '-')}") from None
    compared = captured_comparison(cfg, candidate=candidate, prod=prod, prod_repeat=prod_repeat)
    _release_job(compared, db, dataset, run_id, None, allow_incomplete, fail_on)


def _release_job(cfg: Any, db: Path | None, dataset: str | None, run_id: str | None, profile: str | None,
                 allow_incomplete: bool, fail_on: FailOn | None) -> None:
    """harness.release() and its outcome printed; exits with the verdict's code."""
    from harness.pipeline import release
    from harness.replay import new_run_id

    store = store_for(db, configured=cfg.db)
    run_id = run_id or new_run_id()
    outcome = resumable(run_id, lambda: release(cfg, store=store, dataset=dataset, run_id=run_id, profile=profile,
                                                allow_incomplete=allow_incomplete))
    summary = outcome.replay
    err.print(summary.message, markup=False, highlight=False)
    if outcome.gates is None:
        err.print(f"run {summary.run_id} is {summary.status}: not gating an incomplete run (resume it with"
                  f" --run-id {summary.run_id}, or pass --allow-incomplete)", markup=False, highlight=False)
        raise typer.Exit(EXIT_INCOMPLETE)
    print_scores(outcome.scores, console=err)
    print_gates(outcome.gates, False)
    out.print(f"run id: {summary.run_id}", highlight=False, markup=False)
    out.print(f"report: {outcome.report}", highlight=False, markup=False)
    raise typer.Exit(verdict_exit(outcome.gates.verdict, fail_on))


@app.command()
@handled
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
    store = store_for(db, read_only=True, configured=cfg.db if cfg else None)
    path = write_report(store, run_id, output, config=cfg, allow_incomplete=allow_incomplete)
    out.print(str(path), highlight=False, markup=False)


@app.command("canary-plan")
@handled
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
        updates["steps"] = percentages(steps, "--steps")
    if duration:
        updates["duration_h"] = hours(duration)
    canary = cfg.canary.model_copy(update=updates)
    plan = plan_canary(store_for(db, read_only=True, configured=cfg.db), dataset, canary, cfg.gates, run_id)
    grid = Table(title=Text(f"canary plan for {dataset}: {plan.duration_h:g} h per step, "
                            f"{plan.requests_per_hour:,.1f} requests/h, {plan.confidence:.0%} confidence, "
                            f"{plan.power:.0%} power"), title_justify="left", header_style="bold")
    for name in ("step", "users", "user share", "traffic share", "canary requests", "MDE error rate", "MDE quality"):
        grid.add_column(name, justify="right")
    for st in plan.steps:
        grid.add_row(f"{st.percent:g}%", f"{st.users:,}", f"{st.user_share:.1%}", f"{st.traffic_share:.1%}",
                     f"{st.requests:,}", _points(st.mde_error_rate), f"{st.mde_quality:.3f}")
    out.print(grid)
    for st in plan.steps:
        if st.too_small:
            out.print(f"step {st.percent:g}%: {st.too_small}", style="yellow", highlight=False, markup=False)
    out.print(f"baseline error rate {plan.baseline_error_rate:.2%} from {plan.error_rate_source}; quality spread"
              f" (sd) {plan.quality_sd:.3f} from {plan.quality_source}", highlight=False, markup=False)
    out.print(f"users are assigned by sha256('{canary.salt}:' + user_id): stable on any machine, nested across"
              f" steps; {plan.units_without_user:,} of {plan.units:,} units had no user_id and count per request",
              highlight=False, markup=False)


def _points(mde: float) -> str:
    """An error-rate MDE in percentage points; "none" when no rise at all could be detected."""
    return f"+{100 * mde:.1f} pts" if mde != float("inf") else "none detectable"
