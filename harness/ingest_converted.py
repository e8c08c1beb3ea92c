"""Converted log formats as JSON Lines at DuckDB's speed: in each block the SQL converts the lines
whose shape it converts exactly as the format's Python converter does, and that converter's own
per-line function converts every other line.

Langfuse traces (harness.store.langfuse_sql) and OpenAI chat logs (harness.store.openai_chat_sql)
go this way when each line converts alone: JSON Lines (each file's first line a JSON object, not
gzip), read without `--variant-from` (which joins records across lines), and for Langfuse no
observation exported on its own (no file holds the key `traceId`: nothing to join). The files go
block by block like canonical JSON Lines (bounded memory, committed in blocks). The lines the SQL
leaves, and any line nested deeply enough that Python's parser may refuse it, go to the
converter's `line_items`, which gives what its read_group would, so their records and quarantine
reasons are the Python converter's own. Rows are numbered (seq) in file order as read_group
numbers them. Anything else (gzip, a JSON array or document, redaction) takes the Python reader.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.canonical import Malformed
from harness.capture import langfuse, openai_chat
from harness.capture.base import BOM, GZIP_MAGIC
from harness.capture.convert import batch_from_records
from harness.capture.documents import MAX_DOCUMENT_BYTES, parsed_line, too_long
from harness.capture.jsonl import Block, JsonlReader
from harness.capture.values import BATCH_ROWS, Item
from harness.ingest_bulk import Report, staged_blocks
from harness.store import DatasetWriter
from harness.store.bulk_load import DEEP
from harness.store.connection import arrow_array, numpy_bools
from harness.store.converted_sql import insert_converted
from harness.store.langfuse_sql import stage_traces
from harness.store.openai_chat_sql import stage_entries

__all__ = ["Converter", "load_converted", "sql_converter"]

_CHUNK = 8 << 20
_SCAN = 1 << 20


@dataclass(frozen=True)
class Converter:
    """A format's two converters: `stage(parser, files, n_lines, max_line_bytes)` converts a block in
    SQL (harness.store.converted_sql.stage_converted), `line_items(source, line, text)` one line in Python."""

    stage: Callable[..., Any]
    line_items: Callable[[str, int, bytes | bytearray], list[Item]]
    block_bytes: int
    """Bytes of one block. Smaller blocks overlap more of the work (the next block is converted in
    SQL while Python converts the lines this one left), larger ones cost less per byte: measured,
    Langfuse traces went fastest in 64 MiB blocks, OpenAI chat logs (whose Python lines cost more)
    in 8 MiB ones."""


def sql_converter(reader: Any, paths: list[Path]) -> Converter | None:
    """The converter for a group whose lines each convert alone (see the module's docstring), else None."""
    if getattr(reader, "variant_from", None) is not None or not all(map(_json_lines, paths)):
        return None
    if isinstance(reader, langfuse.LangfuseReader) and not any(_mentions(path, b'"traceId"') for path in paths):
        return Converter(stage_traces, langfuse.line_items, 64 << 20)
    if isinstance(reader, openai_chat.OpenAIChatReader):
        return Converter(stage_entries, openai_chat.line_items, 8 << 20)
    return None


def _json_lines(path: Path) -> bool:
    """A plain file whose first line is a JSON object: JSON Lines to the Python reader too, with the
    same line numbers."""
    with open(path, "rb") as f:
        head = f.read(min(_CHUNK, MAX_DOCUMENT_BYTES + 1)).removeprefix(BOM)
    if head[:2] == GZIP_MAGIC or head[:1] != b"{" or b"\n" not in head:
        return False
    document, error = parsed_line(head[: head.index(b"\n")])
    return error is None and isinstance(document, dict)


def _mentions(path: Path, marker: bytes) -> bool:
    """True when the file holds `marker` (searched in the mapped file, without reading it into memory)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return mapped.find(marker) >= 0


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


@dataclass
class _Block:
    """One block of lines: its bytes, where it starts, DuckDB's conversion (None when every line goes
    to Python), which lines the SQL converts, and what Python made of the others (by line in the block)."""

    source: str
    piece: Block
    first_line: int
    n_lines: int
    staged: Any
    simple: np.ndarray
    python: dict[int, list[Item]]


def load_converted(writer: DatasetWriter, converter: Converter, paths: list[Path], hashers: dict[Path, Any],
                   seq: int, report: Report) -> int:
    """Every file's lines into the writer, block by block; returns the next free sequence number.
    While this block is inserted, a thread has DuckDB convert the next one, which another thread
    has read, hashed and written out."""
    reader = JsonlReader(block_bytes=converter.block_bytes)
    numbering = _Numbering(seq)
    with staged_blocks(writer, reader, paths, hashers,
                       lambda parser, written: _staged(parser, written, converter, reader.max_line_bytes)) as blocks:
        for block in blocks:
            _add_block(writer, block, numbering)
            report.block(block.source)
    return numbering.next


def _staged(parser: Any, blocks: Iterator[tuple[str, Block, int, int, list[Path]]], converter: Converter,
            max_line_bytes: int) -> Iterator[_Block]:
    """Each block with DuckDB's conversion of it, the lines it converts and what Python makes of the
    others: done here, while the caller inserts the block before."""
    for source, piece, first_line, n_lines, files in blocks:
        try:
            staged = converter.stage(parser, files, n_lines, max_line_bytes) if files else None
        finally:
            for file in files:
                file.unlink(missing_ok=True)
        if not isinstance(piece, bytes | bytearray):  # a line too long to hold, read past
            yield _Block(source, piece, first_line, n_lines, None, np.zeros(1, dtype=bool), {})
            continue
        ends, deep = _lines(piece, n_lines)
        simple = np.zeros(n_lines, dtype=bool)
        if staged is not None:
            simple = numpy_bools(staged.column("_simple")) & ~deep
            staged = staged.set_column(staged.schema.get_field_index("_simple"), "_simple", arrow_array(simple))
        python = {}
        for offset in np.flatnonzero(~simple).tolist():  # each line with its newline, as the reader parses it
            start = int(ends[offset - 1]) + 1 if offset else 0
            end = int(ends[offset]) + 1 if offset < len(ends) else len(piece)
            python[offset] = _line_items(converter, source, first_line + offset, piece[start:end])
        yield _Block(source, piece, first_line, n_lines, staged, simple, python)


def _lines(piece: bytes | bytearray, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each line of the block ends (its newline), and which lines hold DEEP brackets or more:
    nested perhaps too deeply for Python's parser, which decides (DuckDB's parser has no such limit,
    and the SQL reads only some of a line's values). Scanned a MiB at a time, which keeps the
    temporary arrays in the cache: twice as fast as whole-block arrays."""
    text = np.frombuffer(piece, dtype=np.uint8)
    ends, opening = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start in range(0, len(text), _SCAN):
        chunk = text[start:start + _SCAN]
        ends.append(np.flatnonzero(chunk == ord("\n")) + start)
        opening.append(np.flatnonzero((chunk | 0x20) == ord("{")) + start)  # `[` or `{`
    newlines, brackets = np.concatenate(ends), np.concatenate(opening)
    bounds = np.concatenate(([0], np.searchsorted(brackets, newlines), [len(brackets)]))
    return newlines, np.diff(bounds)[:n_lines] >= DEEP


def _add_block(writer: DatasetWriter, block: _Block, numbering: _Numbering) -> None:
    """One block's lines: the ones marked simple through the SQL, the other lines through Python."""
    source, piece, first_line, n_lines, simple, python = (block.source, block.piece, block.first_line, block.n_lines,
                                                          block.simple, block.python)
    if not isinstance(piece, bytes | bytearray):  # a line too long to hold, read past
        numbering.number(source, np.zeros(1, dtype=bool))
        writer.add_malformed([Malformed(source, first_line, too_long(piece.size, MAX_DOCUMENT_BYTES, "line"))])
        return
    counts = np.array([len(python[i]) if i in python else 1 for i in range(n_lines)] if python else [1] * n_lines,
                      dtype=np.int64)
    is_record = np.ones(int(counts.sum()), dtype=bool)
    first_item = np.cumsum(counts) - counts  # each line's first item
    for offset, items in python.items():
        is_record[first_item[offset]:first_item[offset] + len(items)] = [not isinstance(i, Malformed) for i in items]
    seqs = numbering.number(source, is_record)
    if block.staged is not None and simple.any():
        insert_converted(writer, block.staged, seqs[np.minimum(first_item, len(seqs) - 1)],
                         int(np.count_nonzero(simple)), source=source, first_line=first_line)
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
        batch = batch_from_records(records, source, 0, seqs=record_seqs)
        writer.add_batch(batch.frame, source, trusted_json=True)
        bad += batch.malformed
    writer.add_malformed(bad)


def _line_items(converter: Converter, source: str, number: int, text: bytes | bytearray) -> list[Item]:
    """What the Python reader makes of one line: nothing for a blank one, too long, or line_items."""
    size = len(text.removesuffix(b"\n"))
    if size > MAX_DOCUMENT_BYTES:
        return [Malformed(source, number, too_long(size, MAX_DOCUMENT_BYTES, "line"))]
    if not text.strip():
        return []
    return converter.line_items(source, number, text)
