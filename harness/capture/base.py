"""What every log reader produces: canonical batches plus the lines it could not read."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import polars as pl

from harness.canonical import Malformed
from harness.errors import IngestError

__all__ = ["RawBatch", "Reader", "SingleFileReader", "open_source", "GZIP_MAGIC", "BOM"]

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"


@dataclass
class RawBatch:
    """Canonical columns (text or typed) plus `_line` (1-based line or row) and `_seq` (order)."""

    frame: pl.DataFrame
    source: str
    malformed: list[Malformed] = field(default_factory=list)
    trusted_json: bool = False
    """Nested columns are the raw text of values a JSON parser already accepted (JSON Lines via
    polars), so objects need no second validity check."""


class Reader(Protocol):
    """One log format: turns files into canonical batches, numbering rows from seq_start.

    `hashers` gives each file its own hash, fed with every byte read (content identity)."""

    name: str

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]: ...


class SingleFileReader:
    """A format whose files stand alone: the group is read file by file."""

    name = "single"

    def read(self, path: Path, hasher: Any, seq_start: int) -> Iterator[RawBatch]:
        raise NotImplementedError

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]:
        seq = seq_start
        for path in paths:
            for batch in self.read(path, hashers[path], seq):
                seq += batch.frame.height + len(batch.malformed)
                if batch.frame.height:
                    seq = max(seq, int(batch.frame["_seq"].max()) + 1)  # type: ignore[arg-type]
                yield batch


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
    """Open a log file for reading bytes; gzip is recognised by content, not by name.

    Damaged gzip data (a truncated or corrupted file), met while the caller reads, is an
    IngestError naming the file."""
    with open(path, "rb") as plain:
        stream: io.BufferedReader = plain
        if hasher is not None:
            stream = io.BufferedReader(_HashingReader(plain, hasher), buffer_size=1 << 20)
        if stream.peek(2)[:2] == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                try:
                    yield unzipped  # type: ignore[misc]
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    raise IngestError(f"{path}: damaged gzip data, the file is truncated or corrupt ({exc})") from None
        else:
            yield stream
