"""What every log reader produces: canonical batches plus the lines it could not read."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import polars as pl

from harness.store import Malformed

__all__ = ["RawBatch", "Reader", "open_source", "GZIP_MAGIC", "BOM"]

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"


@dataclass
class RawBatch:
    """Canonical columns (text or typed) plus `_line` (1-based line or row) and `_seq` (order)."""

    frame: pl.DataFrame
    source: str
    malformed: list[Malformed] = field(default_factory=list)


class Reader(Protocol):
    """One log format: turns a file into canonical batches, numbering rows from seq_start."""

    name: str

    def read(self, path: Path, hasher: Any, seq_start: int) -> Iterator[RawBatch]: ...


class _HashingReader(io.RawIOBase):
    """Feeds every byte read to a hash, so content identity costs no second pass."""

    def __init__(self, inner: BinaryIO, hasher: Any) -> None:
        self._inner = inner
        self._hasher = hasher

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        self._hasher.update(data)
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def open_source(path: Path, hasher: Any = None) -> Iterator[BinaryIO]:
    """Open a log file for reading bytes; gzip is recognised by content, not by name."""
    with open(path, "rb") as plain:
        stream: io.BufferedReader = plain
        if hasher is not None:
            stream = io.BufferedReader(_HashingReader(plain, hasher), buffer_size=1 << 20)
        if stream.peek(2)[:2] == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield stream
