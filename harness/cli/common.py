"""What every command shares: the Typer app, the consoles, common options, error handling and
table output. Data from outside is printed as plain text, never read as Rich markup."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from harness._version import __version__
from harness.errors import DatasetExistsError, HarnessError, IncompleteRunError, PreflightError
from harness.names import InvalidNameError
from harness.secrets import scrub

if TYPE_CHECKING:
    import polars as pl

    from harness.store import Store

__all__ = ["app", "out", "err", "handled", "given_db", "store_for", "table", "percentages", "hours", "EXIT_ERROR",
           "EXIT_USAGE", "EXIT_INCOMPLETE", "EXIT_FOR_VERDICT", "FailOn", "FailOnOption", "verdict_exit", "DbOption",
           "ConfigOption", "ProfileOption", "DatasetOption", "RunIdOption", "DbConfigOption", "configured_db", "cli_words",
           "AllowIncompleteOption", "NoPreflightOption", "preflight_setting"]

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
EXIT_USAGE = 2
EXIT_INCOMPLETE = 5
EXIT_FOR_VERDICT = {"proceed": 0, "pause_and_investigate": 3, "rollback": 4}



class FailOn(str, Enum):
    """The mildest verdict that fails a CI job."""

    pause = "pause"
    rollback = "rollback"


FailOnOption = Annotated[FailOn | None, typer.Option(
    "--fail-on", help="Exit non-zero from this verdict up: `pause` (3 on pause_and_investigate, 4 on rollback) or"
    " `rollback` (4 on rollback; a pause exits 0 with a warning). Errors always exit 1, 2 or 5.")]


def verdict_exit(verdict: str, fail_on: FailOn | None) -> int:
    """The exit code for a verdict: its own code, or 0 when it is milder than `--fail-on`."""
    code = EXIT_FOR_VERDICT[verdict]
    if fail_on is FailOn.rollback and code < EXIT_FOR_VERDICT["rollback"]:
        if code:
            err.print(f"verdict {verdict}: not failing the job (--fail-on rollback)", style="yellow", markup=False)
        return 0
    return code


_DB_HELP = ("DuckDB file. Which one is used: --db after the command, else --db before it, else $HARNESS_DB, else"
            " the config's `db` key (--config), else ./harness.duckdb; every command prints the one it used.")
DbOption = Annotated[Path | None, typer.Option("--db", help=_DB_HELP)]
DbConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="Config whose `db` key names the DuckDB file (see --db).")]
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="TOML config file.", exists=False)]
ProfileOption = Annotated[str | None, typer.Option("--profile", "-p", help="Config profile to apply.")]
DatasetOption = Annotated[str | None, typer.Option("--dataset", "-d", help="Dataset to replay (default: replay.dataset).")]
RunIdOption = Annotated[str | None, typer.Option("--run-id", help="Resume this run, or name a new one.")]
AllowIncompleteOption = Annotated[bool, typer.Option(
    "--allow-incomplete", help="Gate or report a run that stopped early on what it has (the verdict is then at most"
    " pause_and_investigate, and says how much of the run there is).")]
NoPreflightOption = Annotated[bool, typer.Option(
    "--no-preflight", help="Do not call each http/openai/command agent once before the replay (replay.preflight).")]

F = TypeVar("F", bound=Callable[..., Any])


def handled(fn: F) -> F:
    """Library errors become one line on stderr and an exit code: 1, or 2 for bad names; Ctrl-C 130."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IncompleteRunError as exc:
            _error(f"{exc}: resume it with `harness replay --run-id ...` to finish it, or pass --allow-incomplete"
                   " to use what it has")
            raise typer.Exit(EXIT_ERROR) from None
        except PreflightError as exc:
            _error(f"{exc}, or pass --no-preflight")
            raise typer.Exit(EXIT_ERROR) from None
        except DatasetExistsError as exc:
            _error(f"{exc}: choose another --name, or pass --replace to replace it")
            raise typer.Exit(EXIT_ERROR) from None
        except InvalidNameError as exc:
            _error(str(exc))
            raise typer.Exit(EXIT_USAGE) from None
        except HarnessError as exc:
            _error(str(exc))
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            err.print("interrupted", style="yellow", markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(scrub(cli_words(message)) or '')}", highlight=False)


_OPTION_OF = {
    "migration.check": "--check-id", "migration.states": "--states", "migration.transform": "--transform",
    "migration.schema": "--schema", "migration.invariants": "--invariants", "migration.idempotent": "--idempotent",
    "migration.already_migrated": "--already-migrated", "migration.sample": "--sample", "migration.cohorts": "--cohort",
    "migration.timeout_s": "--timeout", "migration.workers": "--workers", "replace=True": "--replace",
    "fmt": "--format", "variant_from": "--variant-from", "schema_version": "--schema-version", "query": "--query",
}  # fmt: skip
_QUOTED = re.compile(r"`([a-z_.]+(?:=True)?)`")


def cli_words(message: str) -> str:
    """A library message with the names it quotes (`migration.transform`, `replace=True`) as the
    command-line options that set them: the library speaks of its parameters, the CLI of its options."""
    return _QUOTED.sub(lambda m: _OPTION_OF.get(m.group(1), m.group(0)), message)


_global_db: Path | None = None


def _version(value: bool) -> None:
    if value:
        out.print(f"harness {__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    db: Annotated[Path | None, typer.Option("--db", envvar="HARNESS_DB", help=_DB_HELP)] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    global _global_db
    _global_db = db


def given_db(db: Path | None) -> Path | None:
    """The DuckDB file named on the command line (--db before or after the command, or HARNESS_DB), if any."""
    return db or _global_db


_announced: set[Path] = set()


def store_for(db: Path | None, read_only: bool = False, configured: str | None = None) -> Store:
    """The store a command uses: --db after the command, --db before it or HARNESS_DB, the config's db,
    then ./harness.duckdb. Says on stderr which file it is (once per file), so no one wonders where data went."""
    from harness.store import Store, resolve_db_path

    path = resolve_db_path(db or _global_db, configured)
    if path.resolve() not in _announced:
        _announced.add(path.resolve())
        err.print(f"database: {path.resolve()}", markup=False, highlight=False)
    return Store(path, read_only=read_only)


def configured_db(config: Path | None) -> str | None:
    """The `db` key of a config file given with --config, if any."""
    if config is None:
        return None
    from harness.config import load_config

    return load_config(config).db


def preflight_setting(cfg: Any, no_preflight: bool) -> Any:
    """The config with its preflight switched off when --no-preflight was given."""
    if not no_preflight:
        return cfg
    return cfg.model_copy(update={"replay": cfg.replay.model_copy(update={"preflight": False})})


def table(frame: pl.DataFrame, title: str | None = None) -> Table:
    """A frame as a Rich table whose title and cells are plain text."""
    return row_table(frame.columns, frame.iter_rows(), title)


def row_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    """Rows of Python values as a Rich table whose title and cells are plain text."""
    result = Table(title=Text(title) if title is not None else None, title_justify="left", header_style="bold")
    for name in columns:
        result.add_column(name, overflow="fold")
    for row in rows:
        result.add_row(*(_cell(v) for v in row))
    return result


def _cell(value: Any) -> Text:
    if value is None:
        return Text("-")
    if isinstance(value, float):
        return Text(f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}")
    return Text(str(value))


def percentages(text: str, option: str) -> list[float]:
    """'5,20,50,100' as percentages of users, each above 0 and at most 100."""
    try:
        values = [float(s) for s in text.split(",")]
    except ValueError:
        raise typer.BadParameter("comma-separated percentages, e.g. 5,20,50,100", param_hint=option) from None
    if any(not 0 < v <= 100 for v in values):
        raise typer.BadParameter("each step must be above 0 and at most 100", param_hint=option)
    return values


def hours(text: str) -> float:
    """'24h', '90m', '2d' or a plain number of hours."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([hmd]?)\s*", text)
    if not match:
        raise typer.BadParameter("a duration like 24h, 90m or 2d", param_hint="--duration")
    value, unit = float(match.group(1)), match.group(2) or "h"
    return value * {"h": 1, "m": 1 / 60, "d": 24}[unit]
