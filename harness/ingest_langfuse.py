"""Langfuse traces as JSON Lines at DuckDB's speed: the SQL converts the traces it can
(harness.store.langfuse_sql), the Python converter every other line.

The Python reader holds every trace until the end, to join observations exported on their own to
their trace. A group of files where no observation can be (no file holds the key `traceId`) has
nothing to join: each line converts alone, so the files go block by block like canonical JSON
Lines (bounded memory, committed in blocks). In each block DuckDB parses the traces and marks
those the SQL converts; the other lines go to harness.capture.langfuse.line_items, which gives
what read_group would, so their records and quarantine reasons are the Python converter's own.
Rows are numbered (seq) in file order as read_group numbers them. Anything else (gzip, a JSON
array or document, observations, `--variant-from`, redaction) takes the Python reader.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from harness.canonical import Malformed
from harness.capture.base import BOM, GZIP_MAGIC
from harness.capture.convert import batch_from_records
from harness.capture.documents import MAX_DOCUMENT_BYTES, parsed_line, too_long
from harness.capture.jsonl import Block, JsonlReader
from harness.capture.langfuse import LangfuseReader, line_items
from harness.capture.values import BATCH_ROWS, Item
from harness.ingest_bulk import Report, staged_blocks
from harness.store import DatasetWriter
from harness.store.langfuse_sql import insert_traces, stage_traces

__all__ = ["load_langfuse", "sql_convertible"]

_MARKER = b'"traceId"'
_CHUNK = 8 << 20


def sql_convertible(reader: Any, paths: list[Path]) -> bool:
    """True when the group can go through load_langfuse: Langfuse JSON Lines (each file's first
    line a JSON object, not gzip) without observations, read without `--variant-from`."""
    if not isinstance(reader, LangfuseReader) or reader.variant_from is not None:
        return False
    return all(_lines_without_observations(path) for path in paths)


def _lines_without_observations(path: Path) -> bool:
    """A plain file whose first line is a JSON object (JSON Lines to the Python reader too, with the
    same line numbers) and which never mentions the key `traceId` (searched in the mapped file,
    without reading it into memory)."""
    with open(path, "rb") as f:
        head = f.read(min(_CHUNK, MAX_DOCUMENT_BYTES + 1)).removeprefix(BOM)
        if head[:2] == GZIP_MAGIC or head[:1] != b"{" or b"\n" not in head:
            return False
        document, error = parsed_line(head[: head.index(b"\n")])
        if error is not None or not isinstance(document, dict):
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return mapped.find(_MARKER) < 0


class _Numbering:
    """Sequence numbers as values.batches gives them: each file's items in batches of BATCH_ROWS,
    a batch's records numbered first and its malformed items after them."""

    def __init__(self, seq: int) -> None:
        self.next = seq
        """The next free number, once the current file is done."""
        self._source: str | None = None
        self._start = self._items = self._records = 0  # file's first number; its items; records in the open batch

    def number(self, source: str, is_record: np.ndarray) -> np.ndarray:
        """The numbers of the next items of `source` (meaningful for the records)."""
        if source != self._source:
            self._source, self._start, self._items, self._records = source, self.next, 0, 0
        position = self._items + np.arange(len(is_record))
        batch = position // BATCH_ROWS
        before = np.cumsum(is_record) - is_record  # records before each item, in this block
        first = np.searchsorted(position, batch * BATCH_ROWS)  # each batch's first item in this block
        open_batch = (self._items - 1) // BATCH_ROWS if self._items else -1  # the last item's batch
        carried = np.where(batch == open_batch, self._records, 0)  # its records, numbered before this block
        seqs = self._start + batch * BATCH_ROWS + before - before[first] + carried
        if len(is_record):
            last = batch == batch[-1]
            self._records = int(is_record[last].sum()) + (self._records if batch[-1] == open_batch else 0)
        self._items += len(is_record)
        self.next = self._start + self._items
        return seqs


def load_langfuse(writer: DatasetWriter, paths: list[Path], hashers: dict[Path, Any], seq: int,
                  report: Report) -> int:
    """Every file's traces into the writer, block by block; returns the next free sequence number.
    While this block is inserted, a thread has DuckDB convert the next one, which another thread
    has read, hashed and written out."""
    reader = JsonlReader(block_bytes=64 << 20)
    numbering = _Numbering(seq)
    with staged_blocks(writer, reader, paths, hashers,
                       lambda parser, written: _staged(parser, written, reader.max_line_bytes)) as blocks:
        for source, piece, first_line, n_lines, staged in blocks:
            _add_block(writer, staged, piece, source, first_line, n_lines, numbering)
            report.block(source)
    return numbering.next


def _staged(parser: Any, blocks: Iterator[tuple[str, Block, int, int, list[Path]]], max_line_bytes: int
            ) -> Iterator[tuple[str, Block, int, int, Any]]:
    """Each block with DuckDB's conversion of it (None when it goes line by line to Python)."""
    for source, piece, first_line, n_lines, files in blocks:
        try:
            staged = stage_traces(parser, files, n_lines, max_line_bytes) if files else None
        finally:
            for file in files:
                file.unlink(missing_ok=True)
        yield source, piece, first_line, n_lines, staged


def _add_block(writer: DatasetWriter, staged: Any, piece: Block, source: str, first_line: int, n_lines: int,
               numbering: _Numbering) -> None:
    """One block's traces: the ones marked simple through the SQL, the other lines through Python."""
    if not isinstance(piece, bytes | bytearray):  # a line too long to hold, read past
        numbering.number(source, np.zeros(1, dtype=bool))
        writer.add_malformed([Malformed(source, first_line, too_long(piece.size, MAX_DOCUMENT_BYTES, "line"))])
        return
    simple = (np.zeros(n_lines, dtype=bool) if staged is None
              else staged.column("_simple").to_numpy(zero_copy_only=False).astype(bool))
    python: dict[int, list[Item]] = {}
    if not simple.all():  # cut out only the lines Python converts, each with its newline (as the reader parses it)
        ends = np.flatnonzero(np.frombuffer(piece, dtype=np.uint8) == ord("\n")) + 1
        for offset in np.flatnonzero(~simple).tolist():
            start = int(ends[offset - 1]) if offset else 0
            end = int(ends[offset]) if offset < len(ends) else len(piece)
            python[offset] = _line_items(source, first_line + offset, piece[start:end])
    counts = np.array([len(python[i]) if i in python else 1 for i in range(n_lines)] if python else [1] * n_lines,
                      dtype=np.int64)
    is_record = np.ones(int(counts.sum()), dtype=bool)
    first_item = np.cumsum(counts) - counts  # each line's first item
    for offset, items in python.items():
        is_record[first_item[offset]:first_item[offset] + len(items)] = [not isinstance(i, Malformed) for i in items]
    seqs = numbering.number(source, is_record)
    if staged is not None and simple.any():
        insert_traces(writer, staged, seqs[np.minimum(first_item, len(seqs) - 1)], int(np.count_nonzero(simple)),
                      source=source, first_line=first_line)
    records: list[tuple[int, dict[str, Any]]] = []
    record_seqs: list[int] = []
    bad: list[Malformed] = []
    for offset, items in python.items():
        for k, item in enumerate(items):
            if isinstance(item, Malformed):
                bad.append(item)
            else:
                records.append((item[1], item[2]))
                record_seqs.append(int(seqs[first_item[offset] + k]))
    if records:
        batch = batch_from_records(records, source, 0)
        writer.add_batch(batch.frame.with_columns(pl.Series("_seq", record_seqs, dtype=pl.Int64)), source,
                         trusted_json=True)
    writer.add_malformed(bad)


def _line_items(source: str, number: int, text: bytes | bytearray) -> list[Item]:
    """What the Python reader makes of one line: nothing for a blank one, too long, or line_items."""
    size = len(text.removesuffix(b"\n"))
    if size > MAX_DOCUMENT_BYTES:
        return [Malformed(source, number, too_long(size, MAX_DOCUMENT_BYTES, "line"))]
    if not text.strip():
        return []
    return line_items(source, number, text)
