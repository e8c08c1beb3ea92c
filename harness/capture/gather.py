"""Where a reader that must gather a whole group before it builds anything (spans by trace, runs by
trace) gathers it: in memory up to a size, beyond it on disk (harness.store.Spill), so that what
the reader holds grows with the number of spans or runs (a few ids each), not with their text."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from harness.capture.base import GZIP_MAGIC
from harness.capture.values import Item, collector_paused

__all__ = ["Spill", "gathered", "spill_bytes", "spills"]


class Spill(Protocol):
    """Where a large group's values wait, by key, while the group is read (harness.store.Spill)."""

    def put(self, key: str, value: bytes) -> None: ...

    def groups(self) -> Iterator[tuple[str, list[bytes]]]: ...

    def regrouped(self, membership: Iterable[tuple[str, int]]) -> Iterator[tuple[int, dict[str, list[bytes]]]]: ...

    def close(self) -> None: ...


def gathered(paths: list[Path], spill: Callable[[], Spill] | None, in_memory: Callable[[], Iterable[Item]],
             spilled: Callable[[Spill], Iterable[Item]]) -> Iterable[Item]:
    """A group's items: `in_memory()` (the garbage collector paused meanwhile, see
    values.collector_paused), or, with a `spill` and files too large for memory, `spilled(spill())`
    as they are read, the spill closed after the last."""
    if spill is None or not spills(paths):
        with collector_paused():
            return list(in_memory())
    return _through(spill, spilled)


def _through(spill: Callable[[], Spill], spilled: Callable[[Spill], Iterable[Item]]) -> Iterator[Item]:
    opened = spill()
    try:
        yield from spilled(opened)
    finally:
        opened.close()


def spill_bytes() -> int:
    """Bytes of a group's files (gzip counted as it expands) up to which it is gathered in memory,
    which takes about three times their size; HARNESS_SPILL_MB sets it (128 MB)."""
    return int(float(os.environ.get("HARNESS_SPILL_MB", "128")) * (1 << 20))


def spills(paths: list[Path]) -> bool:
    """True when the group's files are too large to gather in memory."""
    return sum(_expanded_size(path) for path in paths) > spill_bytes()


def _expanded_size(path: Path) -> int:
    """A file's size, times 8 for gzip (logs compress about that much)."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == GZIP_MAGIC
    return path.stat().st_size * (8 if gzipped else 1)
