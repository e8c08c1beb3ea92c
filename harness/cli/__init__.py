"""The `harness` command line: each command parses options, calls one library function and prints.

Exit codes: 0 success (proceed), 1 error, 2 bad usage, 3 pause_and_investigate, 4 rollback,
5 a replay that stopped before the end (budget or interrupt; rerun to resume), 130 Ctrl-C.
Commands are grouped by what they act on: data.py (datasets), runs.py (replay and runs),
release.py (gates, the release job, reports), migration.py (state migrations), watch.py (a live
canary's gates).
"""

import atexit
import os
import sys
import threading

from harness.cli import data, migration, release, runs, watch  # noqa: F401  (registers the commands, in help order)
from harness.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point: the command, then a quick exit (see `_exit`)."""
    try:
        app()
    except SystemExit as exc:
        _exit(exc.code)
    _exit(0)


def _exit(code: object) -> None:
    """End the process with `code` as `sys.exit` would, but without tearing the interpreter down
    module by module: after a replay (about 850 modules loaded) that teardown alone took a quarter
    of a second. Exit handlers still run and the output is flushed first; while any other thread
    is alive, the ordinary exit (which waits for it) is taken instead."""
    if threading.active_count() > 1:
        raise SystemExit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # what the interpreter's own exit runs first (temporary files, logging)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    os._exit(code or 0)
