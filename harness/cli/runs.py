"""Commands about runs: replay a dataset, score a run, list runs, show one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from harness.cli.common import (
    EXIT_INCOMPLETE,
    ConfigOption,
    DatasetOption,
    DbConfigOption,
    DbOption,
    NoPreflightOption,
    ProfileOption,
    RunIdOption,
    app,
    configured_db,
    err,
    handled,
    out,
    preflight_setting,
    row_table,
    store_for,
    table,
)
from harness.cli.printing import print_scores


@app.command()
@handled
def replay(
    config: ConfigOption = Path("harness.toml"),
    dataset: DatasetOption = None,
    run_id: RunIdOption = None,
    profile: ProfileOption = None,
    no_preflight: NoPreflightOption = False,
    db: DbOption = None,
) -> None:
    """Replay a dataset through prod, prod_repeat and candidate; prints the run id."""
    from harness.config import load_config
    from harness.replay import new_run_id

    cfg = preflight_setting(load_config(config, profile=profile), no_preflight)
    store = store_for(db, configured=cfg.db)
    run_id = run_id or new_run_id()
    summary = resumable(run_id, lambda: replay_run(cfg, store, dataset, run_id, profile))
    if summary.status == "completed" and cfg.scoring is not None:
        print_scores(score_with(store, summary.run_id, cfg), console=err)
    out.print(summary.run_id, highlight=False, markup=False)
    if summary.status != "completed":
        raise typer.Exit(EXIT_INCOMPLETE)


def resumable(run_id: str, work: Any) -> Any:
    """Run `work`; on a Ctrl-C that reaches us, say which run it was and how to resume it."""
    try:
        return work()
    except KeyboardInterrupt:
        err.print(f"interrupted: run {run_id} keeps what it saved; resume it with: harness replay --run-id {run_id}"
                  " (same config)", style="yellow", markup=False, highlight=False)
        raise typer.Exit(130) from None


def score_with(store: Any, run_id: str, cfg: Any) -> Any:
    from harness.pricing import PriceTable
    from harness.scoring import score_run

    return score_run(store, run_id, scoring=cfg.scoring, judge=cfg.judge, tools=cfg.tools,
                     prices=PriceTable.with_overrides(cfg.prices))



@app.command()
@handled
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
    print_scores(score_with(store_for(db, configured=cfg.db), run_id, cfg), console=out)



def replay_run(cfg: Any, store: Any, dataset: str | None, run_id: str | None, profile: str | None) -> Any:
    """Replay and print how the session ended, with how to go on when it stopped early."""
    from harness.replay import replay as run_replay

    summary = run_replay(cfg, store=store, dataset=dataset, run_id=run_id, profile=profile)
    err.print(summary.message, markup=False, highlight=False)
    if summary.status not in ("completed",):
        err.print(f"resume with: harness replay --run-id {summary.run_id} (same config)", markup=False,
                  highlight=False)
    return summary



@app.command()
@handled
def runs(config: DbConfigOption = None, db: DbOption = None) -> None:
    """List runs, newest first."""
    found = store_for(db, read_only=True, configured=configured_db(config)).run_rows()
    shown = ("run_id", "dataset", "status", "n_planned", "n_responses", "n_errors", "cost_usd")
    rows = ([*(run[c] for c in shown), f"{run['created_at']:%Y-%m-%d %H:%M}"] for run in found)
    out.print(row_table([*shown, "created_at"], rows, title=f"{len(found)} runs"))



@app.command()
@handled
def show(run_id: Annotated[str, typer.Argument(help="Run id.")], config: DbConfigOption = None,
         db: DbOption = None) -> None:
    """Summarize one run: per arm count, errors, mean cost, p50/p95/p99 latency."""
    import polars as pl

    store = store_for(db, read_only=True, configured=configured_db(config))
    run = store.run(run_id)
    out.print(f"[bold]{escape(run_id)}[/]  dataset {escape(run['dataset'])}  status [bold]{run['status']}[/]"
              f"  planned {run['n_planned']:,}  created {run['created_at']:%Y-%m-%d %H:%M:%S}")
    if run.get("message"):
        out.print(run["message"], highlight=False, markup=False)
    looks = store.looks(run_id)
    if looks:
        out.print(table(pl.DataFrame([{"look": lk["look"], "requests": lk["n_requests"], "spend_usd": lk["spend_usd"],
                                       "decision": lk["decision"], "verdict": lk["verdict"],
                                       "undecided": sum(c["status"] not in ("pass", "fail") for c in lk["checks"])}
                                      for lk in looks]), title="sequential looks"))
    rows = [{"arm": a["arm"], "responses": f"{a['n']:,}", "errors": f"{a['errors']:,}",
             "error rate": f"{100 * a['error_rate']:.1f}%", "mean cost": _usd(a["mean_cost_usd"]),
             "p50": _ms(a["p50_ms"]), "p95": _ms(a["p95_ms"]), "p99": _ms(a["p99_ms"]),
             "tool calls": f"{a['mean_tool_calls']:.2f}" if a["mean_tool_calls"] is not None else "-"}
            for a in store.arm_summary(run_id).iter_rows(named=True)]
    out.print(table(pl.DataFrame(rows, schema=list(rows[0]) if rows else ["arm"]),
                    title="per arm (cost and latency of successful answers)"))
    errors = store.error_examples(run_id, per_type=1)
    if errors.height:
        example = pl.col("examples").list.first().str.slice(0, 80).alias("example")
        out.print(table(errors.select("arm", "error_type", "n", example), title="errors"))


def _usd(value: float | None) -> str:
    """Dollars with the precision a per-response cost needs."""
    return "-" if value is None else f"${value:.3g}" if value < 0.01 else f"${value:,.4f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"
