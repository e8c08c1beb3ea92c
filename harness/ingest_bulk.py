"""Canonical JSON Lines at DuckDB's speed, and the progress lines every ingest prints.

A thread cuts each file into blocks of whole lines (hashing every byte on the way) and writes
each block to a scratch file; the store's bulk loader parses it with DuckDB and normalizes it
in SQL. A block the bulk loader leaves (DuckDB refused it, or it may hold what only DuckDB
accepts) is parsed by the Python reader, which sets each bad line aside with its number and
reason. Rows the SQL refuses get Python's own reason when it has one, and their original text.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from rich.progress import Progress

from harness.canonical import Malformed
from harness.capture.jsonl import Block, JsonlReader, line_problem, raw_text
from harness.prefetch import prefetched
from harness.scratch import scratch_directory
from harness.store import DatasetWriter
from harness.store.bulk_load import insert_json_block, parser_for, stage_json_block

__all__ = ["Report", "block_files", "load_jsonl", "scratch_dir", "scratch_root", "staged_blocks"]

T = TypeVar("T")

PART_BYTES = 8 << 20
"""Bytes of one block file: a block is written to several, which DuckDB parses in parallel."""


def scratch_root() -> str:
    """Where block files go: /dev/shm (memory) when it is writable with room to spare, since each
    is written once and read at once; else the usual temporary directory."""
    try:
        room = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK) and room.f_bavail * room.f_frsize > 1 << 30:
            return "/dev/shm"
    except OSError:
        pass
    return tempfile.gettempdir()


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A directory of this process for block files, removed afterwards; those of killed ingests go first."""
    with scratch_directory("ingest", scratch_root()) as scratch:
        yield Path(scratch)


class Report:
    """Progress of one ingest: the bar's status, a line per committed block and one per file read."""

    def __init__(self, writer: DatasetWriter, bar: Progress | None, n_files: int) -> None:
        self.writer = writer
        self.bar = bar
        self.n_files = n_files
        self.task = bar.add_task(f"ingest {writer.name}", total=n_files, status="") if bar is not None else None
        self._source: str | None = None
        self._done = 0
        self._at_start = self._last = (0, 0)

    def say(self, text: str) -> None:
        """A progress line (when progress is shown), kept whole however narrow the terminal."""
        if self.bar is not None:
            self.bar.console.print(f"ingest {self.writer.name}: {text}", markup=False, highlight=False, soft_wrap=True)

    def block(self, source: str) -> None:
        """After each block (its rows added): commit when the block is full, note a file finished."""
        s = self.writer.summary
        if source != self._source:
            self._file_done()
            self._source = source
        self._last = (s.n_requests, s.n_quarantined)
        if self.writer.checkpoint():
            self.say(f"committed {s.n_requests:,} requests, {s.n_quarantined:,} malformed")
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, status=f"{s.n_requests:,} requests, {s.n_quarantined:,} malformed")

    def close(self) -> None:
        """After the last block: the last file's line."""
        self._file_done()

    def _file_done(self) -> None:
        """A line for the file read until the last block, which holds the counts since its start."""
        if self._source is not None:
            self._done += 1
            requests, malformed = (now - then for now, then in zip(self._last, self._at_start, strict=True))
            self.say(f"read {self._source} ({self._done}/{self.n_files}): {requests:,} requests,"
                     f" {malformed:,} malformed")
            if self.bar is not None and self.task is not None:
                self.bar.advance(self.task)
        self._at_start = self._last


def load_jsonl(writer: DatasetWriter, reader: JsonlReader, paths: list[Path], hashers: dict[Path, Any],
               seq: int, report: Report) -> int:
    """Every file's blocks into the writer; returns the next free sequence number. While this block
    is inserted, a thread has DuckDB parse the next one, which another thread has read, hashed and
    written out."""
    with staged_blocks(writer, reader, paths, hashers,
                       lambda parser, written: _staged(parser, written, reader.max_line_bytes)) as blocks:
        for source, piece, first_line, n_lines, files, staged, typed in blocks:
            try:
                if staged is None:  # DuckDB refused the block, or it may hold what only DuckDB accepts
                    assert piece is not None
                    batch = reader.parse(piece, source, first_line, n_lines, seq)
                    writer.add_batch(batch.frame, source, trusted_json=True)
                    writer.add_malformed(batch.malformed)
                elif refused := insert_json_block(writer, staged, source=source, first_line=first_line, seq=seq,
                                                  typed_captured=typed):
                    writer.add_malformed(_explained(refused, files, first_line, source))
            finally:
                for file in files:
                    file.unlink(missing_ok=True)
            seq += n_lines
            report.block(source)
    return seq


@contextmanager
def staged_blocks(writer: DatasetWriter, reader: JsonlReader, paths: list[Path], hashers: dict[Path, Any],
                  stage: Callable[[Any, Iterator[tuple[str, Block, int, int, list[Path]]]], Iterator[T]]
                  ) -> Iterator[Iterator[T]]:
    """The pipeline both bulk paths share: one thread reads, hashes and writes out each block (its
    files under a scratch directory), another has `stage(parser, blocks)` parse them with DuckDB on a
    connection of its own, while the caller inserts what comes out."""
    with (scratch_dir() as scratch, closing(parser_for(writer)) as parser,
          closing(prefetched(block_files(reader, paths, hashers, writer.block_rows, scratch))) as written,
          closing(prefetched(stage(parser, written))) as blocks):
        yield blocks


def _staged(parser: Any, blocks: Iterator[tuple[str, Block, int, int, list[Path]]], max_line_bytes: int
            ) -> Iterator[tuple[str, Block | None, int, int, list[Path], Any, bool]]:
    """Each block with DuckDB's parse of it (None when it must be read another way) and whether its
    captured objects were parsed typed (each file tries typed first); the block's bytes are kept
    only for the blocks DuckDB did not parse."""
    typed, typed_source = True, None
    for source, piece, first_line, n_lines, files in blocks:
        if source != typed_source:
            typed, typed_source = True, source
        staged = None
        for attempt in ((True, False) if typed else (False,)) if files else ():
            staged = stage_json_block(parser, files, n_lines=n_lines, max_line_bytes=max_line_bytes,
                                      typed_captured=attempt)
            if staged is not None:
                break
            typed = False  # this file's captured values are not all plain objects
        yield source, piece if staged is None else None, first_line, n_lines, files, staged, typed


def block_files(reader: JsonlReader, paths: list[Path], hashers: dict[Path, Any], max_lines: int,
                scratch: Path) -> Iterator[tuple[str, Block, int, int, list[Path]]]:
    """Each file's blocks, each written to files of about PART_BYTES of whole lines in `scratch`
    (DuckDB reads several files of one block in parallel; none for a line too long to hold), which
    the caller removes once it has read them."""
    count = 0
    for path in paths:
        for piece, first_line, n_lines in reader.blocks(path, hashers[path], max_lines):
            files = []
            if isinstance(piece, bytes | bytearray):
                view, start = memoryview(piece), 0
                while start < len(piece):
                    end = piece.find(b"\n", start + PART_BYTES) + 1 or len(piece)
                    count += 1
                    files.append(scratch / f"block-{count}.jsonl")
                    with open(files[-1], "wb") as f:
                        f.write(view[start:end])
                    start = end
            yield str(path), piece, first_line, n_lines, files


def _explained(refused: list[tuple[int, str]], files: list[Path], first_line: int, source: str) -> list[Malformed]:
    """The rows the SQL refused, with their original line (from the block's files) and Python's
    reason when it has one (a `null` line is "not a JSON object", not a record missing its request_id)."""
    lines = b"".join(file.read_bytes() for file in files).split(b"\n")
    bad = []
    for line, reason in refused:
        text = lines[line - first_line].removesuffix(b"\r")
        bad.append(Malformed(source, line, line_problem(text) or reason, raw_text(text), len(text)))
    return bad
