"""The `harness` command line: each command parses options, calls one library function and prints.

Exit codes: 0 success (proceed), 1 error, 2 bad usage, 3 pause_and_investigate, 4 rollback,
5 a replay that stopped before the end (budget or interrupt; rerun to resume), 130 Ctrl-C.
Commands are grouped by what they act on: data.py (datasets), runs.py (replay and runs),
release.py (gates, the release job, reports), migration.py (state migrations), watch.py (a live
canary's gates).
"""

from harness.cli import data, migration, release, runs, watch  # noqa: F401  (registers the commands, in help order)
from harness.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
