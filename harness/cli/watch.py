"""`harness watch DIR`: anytime-valid gates on a live canary's logs, a decision per look."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli.common import EXIT_INCOMPLETE, DbOption, ProfileOption, app, err, handled, hours, store_for

#: promote as proceed (0), pause as pause_and_investigate (3), rollback (4); no final decision yet: 5.
EXIT_FOR_DECISION = {"promote": 0, "pause": 3, "rollback": 4, "continue": EXIT_INCOMPLETE}


@app.command()
@handled
def watch(
    directory: Annotated[Path, typer.Argument(help="Directory of canary logs (any format `ingest` reads); new files and appended lines are picked up.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config with gates and canary sections.")] = None,
    profile: ProfileOption = None,
    name: Annotated[str | None, typer.Option("--name", help="Watch name: scopes offsets, records and looks in the store (default: the directory's name).")] = None,
    canary_variant: Annotated[str, typer.Option("--canary-variant", help="Captured variant of the canary.")] = "canary",
    prod_variant: Annotated[str, typer.Option("--prod-variant", help="Captured variant of prod.")] = "prod",
    step: Annotated[float | None, typer.Option("--step", help="Without variants: percent of users on the canary, assigned by canary-plan's user hash.")] = None,
    duration: Annotated[str | None, typer.Option("--duration", help="How long the step must run before promote: 24h, 90m (default: [canary] duration_h).")] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between looks.", min=0.0)] = 30.0,
    max_looks: Annotated[int | None, typer.Option("--max-looks", help="Stop after this many looks.", min=1)] = None,
    once: Annotated[bool, typer.Option("--once", help="One look, then exit (same as --max-looks 1).")] = False,
    hook: Annotated[str | None, typer.Option("--hook", help="Command run after every look, the look's JSON on its stdin.")] = None,
    serve: Annotated[str | None, typer.Option("--serve", help="HOST:PORT answering GET/POST /analysis for Argo Rollouts and Flagger; keeps watching after a final decision.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Log format, as for ingest (default: sniffed).")] = "auto",
    db: DbOption = None,
) -> None:
    """Gate a live canary: tail its logs, look with anytime-valid intervals, print promote|continue|pause|rollback per look as JSON; exit 0 promote, 3 pause, 4 rollback, 5 no final decision."""
    from harness.config import HarnessConfig, load_config
    from harness.watch import AnalysisServer, Assignment, Watcher, WatchOptions, parse_address

    cfg = load_config(config, profile=profile) if config else HarnessConfig()
    if not directory.is_dir():
        raise typer.BadParameter(f"{directory}: not a directory", param_hint="DIRECTORY")
    address = None
    if serve:
        try:
            address = parse_address(serve)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--serve") from None
    options = WatchOptions(directory.resolve(), name or directory.resolve().name,
                           Assignment(canary_variant, prod_variant, step, cfg.canary.salt),
                           hours(duration) if duration else cfg.canary.duration_h, fmt, hook)
    watcher = Watcher(store_for(db, configured=cfg.db), cfg.gates, options)
    limit = 1 if once else max_looks

    def emit(payload: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()
        for f in payload["files"]:
            err.print(f"{f['path']}: {f['event']} ({f['detail']}): read again from the start, records already"
                      " counted are not counted twice", style="yellow", markup=False, highlight=False)
        for problem in payload["problems"]:
            err.print(problem, style="yellow", markup=False, highlight=False)

    if address is None:
        last = watcher.run(emit, interval_s=interval, max_looks=limit)
    else:
        with AnalysisServer(address, lambda: watcher.latest) as server:
            host, port = server.address
            err.print(f"serving /analysis on http://{host}:{port}/analysis", markup=False, highlight=False)
            last = watcher.run(emit, interval_s=interval, max_looks=limit, stop_on_final=False)
    raise typer.Exit(EXIT_FOR_DECISION[last["decision"]])
