"""What every command shares: the Typer app, the consoles, common options, error handling and
table output. Data from outside is printed as plain text, never read as Rich markup."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from harness._version import __version__
from harness.errors import DatasetExistsError, HarnessError, IncompleteRunError
from harness.names import InvalidNameError
from harness.secrets import scrub

if TYPE_CHECKING:
    import polars as pl

    from harness.store import Store

__all__ = ["app", "out", "err", "handled", "given_db", "store_for", "table", "percentages", "hours", "EXIT_ERROR",
           "EXIT_USAGE", "EXIT_INCOMPLETE", "EXIT_FOR_VERDICT", "DbOption", "ConfigOption", "ProfileOption",
           "DatasetOption", "RunIdOption", "AllowIncompleteOption"]

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
    err.print(f"[bold red]error:[/] {escape(scrub(message) or '')}", highlight=False)


_global_db: Path | None = None


def _version(value: bool) -> None:
    if value:
        out.print(f"harness {__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    db: DbOption = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    global _global_db
    _global_db = db


def given_db(db: Path | None) -> Path | None:
    """The DuckDB file named on the command line (--db before or after the command, or HARNESS_DB), if any."""
    return db or _global_db


def store_for(db: Path | None, read_only: bool = False, configured: str | None = None) -> Store:
    """The store a command uses: --db (before or after the command), HARNESS_DB, the config's db,
    then ./harness.duckdb."""
    from harness.store import Store, resolve_db_path

    return Store(resolve_db_path(db or _global_db, configured), read_only=read_only)


def table(frame: pl.DataFrame, title: str | None = None) -> Table:
    """A frame as a Rich table whose title and cells are plain text."""
    result = Table(title=Text(title) if title is not None else None, title_justify="left", header_style="bold")
    for name in frame.columns:
        result.add_column(name, overflow="fold")
    for row in frame.iter_rows():
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
