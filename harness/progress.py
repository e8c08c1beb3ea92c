"""Rich progress bars for long work, shared by ingest, replay and scoring.

Library functions take `progress=False` to stay silent (tests, notebooks that prefer it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["console", "progress_bar"]

console = Console(stderr=True)
if not console.is_terminal:  # CI logs, pipes: whole lines, never a bar cut to 80 columns
    console = Console(stderr=True, width=240, soft_wrap=True)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A bar with done/total, a free-text status field, elapsed and remaining time; in a non-terminal,
    the same as one whole line of text (no bar, no spinner), written when the work ends."""
    text = (TextColumn("{task.description}"), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn())
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) if console.is_terminal else text
    with Progress(*columns, console=console, disable=not enabled, transient=False, refresh_per_second=5) as bar:
        yield bar
