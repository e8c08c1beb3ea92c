"""The canonical record as JSON Lines, parsed by polars a block at a time.

The fast path hands a whole block to `pl.read_ndjson` with nested fields read as
their raw JSON text. Only a block that polars rejects is walked line by line, to
set the bad lines aside with their line numbers and parse the rest.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from harness.capture.base import BOM, RawBatch, SingleFileReader, open_source
from harness.store import CANONICAL_COLUMNS, Malformed

__all__ = ["JsonlReader"]

RAW_SCHEMA = {name: pl.String for name in CANONICAL_COLUMNS}
_NESTED = ("input", "metadata", "reference", "captured")
# polars hands nested values back as JSON text it writes itself, and it writes backslashes, tabs
# and other control characters unescaped, and quotes inside object keys too. Lines holding such an
# escape (or an escaped quote right before a key's colon) have their nested values rewritten from
# the original line by Python's JSON parser.
_MISWRITTEN = re.compile(rb'\\[\\tbfu]|\\"[^"\n]*"\s*:')


class JsonlReader(SingleFileReader):
    name = "jsonl"

    def __init__(self, block_bytes: int = 32 << 20, max_line_bytes: int = 64 << 20) -> None:
        self.block_bytes = block_bytes
        self.max_line_bytes = max_line_bytes

    def read(self, path: Path, hasher: Any, seq_start: int) -> Iterator[RawBatch]:
        source = str(path)
        next_line = 1
        seq = seq_start
        carry = b""
        first = True
        with open_source(path, hasher) as stream:
            while True:
                block = stream.read(self.block_bytes)
                if first:
                    block = block.removeprefix(BOM)
                    first = False
                data = carry + block if carry else block
                if block:
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        carry = data
                        continue
                    chunk, carry = data[: cut + 1], data[cut + 1 :]
                else:
                    chunk, carry = data, b""
                if chunk:
                    n_lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
                    batch = self._parse_block(chunk, n_lines, source, next_line, seq)
                    next_line += n_lines
                    seq += batch.frame.height + len(batch.malformed)
                    yield batch
                if not block:
                    return

    def _parse_block(self, chunk: bytes, n_lines: int, source: str, first_line: int, seq: int) -> RawBatch:
        try:
            frame = pl.read_ndjson(io.BytesIO(chunk), schema=RAW_SCHEMA)
        except Exception:  # noqa: BLE001 - polars raises several kinds; the slow path explains
            return self._parse_lines(chunk, source, first_line, seq)
        if frame.height == n_lines:  # no blank line: row i is line first_line + i
            lines = list(range(first_line, first_line + frame.height))
        else:
            lines = [first_line + i for i, text in enumerate(chunk.split(b"\n")) if text.strip()]
            if len(lines) != frame.height:  # polars and we disagree on what a line is: be exact
                return self._parse_lines(chunk, source, first_line, seq)
        frame = _rewrite_miswritten(frame, chunk, first_line, lines)
        return RawBatch(_with_positions(frame, lines, seq), source, trusted_json=True)

    def _parse_lines(self, chunk: bytes, source: str, first_line: int, seq: int) -> RawBatch:
        """Walk the block line by line: bad lines to quarantine, good ones parsed together."""
        good: list[bytes] = []
        good_lines: list[int] = []
        bad: list[Malformed] = []
        for offset, text in enumerate(chunk.split(b"\n")):
            if not text.strip():
                continue
            number = first_line + offset
            reason = self._problem(text)
            if reason is None:
                good.append(text)
                good_lines.append(number)
            else:
                raw = text[:1_000_000].decode("utf-8", "replace")
                bad.append(Malformed(source, number, reason, raw, len(text)))
        frame = pl.DataFrame(schema=RAW_SCHEMA)
        if good:
            frame = pl.read_ndjson(io.BytesIO(b"\n".join(good)), schema=RAW_SCHEMA)
        return RawBatch(_with_positions(frame, good_lines, seq), source, bad, trusted_json=True)

    def _problem(self, text: bytes) -> str | None:
        if len(text) > self.max_line_bytes:
            return f"line is {len(text) / 1e6:.1f} MB, over the {self.max_line_bytes / 1e6:.0f} MB limit"
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"invalid UTF-8 at byte {exc.start}"
        try:
            value = json.loads(decoded)
        except json.JSONDecodeError as exc:
            return f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"
        if not isinstance(value, dict):
            return f"not a JSON object (a {type(value).__name__})"
        try:
            pl.read_ndjson(io.BytesIO(text), schema=RAW_SCHEMA)
        except Exception as exc:  # noqa: BLE001
            return f"unreadable record: {str(exc).splitlines()[0]}"
        return None


def _rewrite_miswritten(frame: pl.DataFrame, chunk: bytes, first_line: int, lines: list[int]) -> pl.DataFrame:
    """Nested values of the lines polars would mis-write, re-serialized from the original text."""
    starts = {chunk.count(b"\n", 0, m.start()) for m in _MISWRITTEN.finditer(chunk)}
    if not starts:
        return frame
    texts = chunk.split(b"\n")
    row_of = {line - first_line: row for row, line in enumerate(lines)}
    columns = {c: frame[c].to_list() for c in _NESTED if c in frame.columns}
    for offset in starts:
        row = row_of.get(offset)
        if row is None:
            continue
        record = json.loads(texts[offset])
        for column, values in columns.items():
            value = record.get(column)
            if isinstance(value, dict | list):
                values[row] = json.dumps(value, ensure_ascii=False)
    return frame.with_columns(pl.Series(c, v, dtype=pl.String) for c, v in columns.items())


def _with_positions(frame: pl.DataFrame, lines: list[int], seq: int) -> pl.DataFrame:
    return frame.with_columns(
        pl.Series("_line", lines, dtype=pl.Int64),
        pl.int_range(seq, seq + frame.height, dtype=pl.Int64).alias("_seq"),
    )
