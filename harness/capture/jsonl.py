"""The canonical record as JSON Lines, parsed by polars a block at a time.

The fast path hands a whole block to `pl.read_ndjson` with nested fields read as
their raw JSON text. Only a block that polars rejects (or would misread) is walked line
by line, to set the bad lines aside with their line numbers and parse the rest.

A line longer than `max_line_bytes` is too large to be one request: it is set aside with its
size, and read past without being held whole in memory (only its first bytes are kept, for
the quarantine), so one runaway line cannot exhaust memory.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import polars as pl

from harness.canonical import CANONICAL_COLUMNS, Malformed
from harness.capture.base import BOM, RawBatch, SingleFileReader, open_source

__all__ = ["Block", "JsonlReader", "line_problem", "raw_text"]

RAW_SCHEMA = {name: pl.String for name in CANONICAL_COLUMNS}
_NESTED = ("input", "metadata", "reference", "captured")
# polars hands nested values back as JSON text it writes itself, and it writes backslashes, tabs
# and other control characters unescaped, and quotes inside object keys too. Lines holding such an
# escape (or an escaped quote right before a key's colon) have their nested values rewritten from
# the original line by Python's JSON parser.
_MISWRITTEN = re.compile(rb'\\[\\tbfu]|\\"[^"\n]*"\s*:')
# An escaped UTF-16 surrogate. Paired (\ud83d\ude00) it is one character; alone it is none, and
# polars reads a lone one in a plain string as a NUL character, so a block holding one is walked
# line by line and the line quarantined.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}  # fmt: skip

RAW_PREFIX_BYTES = 1_000_000
"""The most bytes of a malformed line kept in the quarantine."""


@dataclass(frozen=True, slots=True)
class _LongLine:
    """A line over the size limit, read past: its first bytes and its whole size."""

    head: bytes
    size: int


Block = bytes | bytearray | _LongLine
"""Whole lines of a file, or one line too long to hold."""


def _fill(stream: BinaryIO, view: memoryview) -> int:
    """Read into `view` until it is full or the stream ends (gzip gives a little at a time); the
    number of bytes read."""
    readinto = cast(io.BufferedIOBase, stream).readinto
    filled = 0
    while filled < len(view):
        n = readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def _split(piece: bytes | bytearray, max_lines: int) -> Iterator[bytes | bytearray]:
    """`piece` in parts of at most `max_lines` lines."""
    start = 0
    while start < len(piece):
        end = start - 1
        for _ in range(max_lines):
            end = piece.find(b"\n", end + 1)
            if end < 0:
                end = len(piece) - 1
                break
        yield piece[start : end + 1]
        start = end + 1


class JsonlReader(SingleFileReader):
    name = "jsonl"

    def __init__(self, block_bytes: int = 32 << 20, max_line_bytes: int = 32 << 20) -> None:
        self.block_bytes = block_bytes
        self.max_line_bytes = max_line_bytes
        """Longer lines are quarantined: far more than any one request needs (a 1M-token context is
        about 4 MiB of text), and a bound on what one line may cost in memory."""

    def read(self, path: Path, hasher: Any, seq_start: int) -> Iterator[RawBatch]:
        seq = seq_start
        for piece, first_line, n_lines in self.blocks(path, hasher):
            batch = self.parse(piece, str(path), first_line, n_lines, seq)
            seq += batch.frame.height + len(batch.malformed)
            yield batch

    def blocks(self, path: Path, hasher: Any, max_lines: int | None = None) -> Iterator[tuple[Block, int, int]]:
        """The file as blocks of whole lines (at most `max_lines` each), with each block's first line
        number and its number of lines; a line over the size limit comes alone, as a _LongLine."""
        next_line = 1
        with open_source(path, hasher) as stream:
            for piece in self._pieces(stream):
                if isinstance(piece, _LongLine):
                    yield piece, next_line, 1
                    next_line += 1
                    continue
                newlines = piece.count(b"\n")
                parts = [piece] if max_lines is None or newlines <= max_lines else _split(piece, max_lines)
                for part in parts:
                    n_lines = (newlines if part is piece else part.count(b"\n")) + (0 if part.endswith(b"\n") else 1)
                    yield part, next_line, n_lines
                    next_line += n_lines

    def parse(self, piece: Block, source: str, first_line: int, n_lines: int, seq: int) -> RawBatch:
        """One block from blocks() as a canonical batch, its bad lines set aside."""
        if isinstance(piece, _LongLine):
            bad = Malformed(source, first_line, self._too_long(piece.size), raw_text(piece.head), piece.size)
            return RawBatch(_with_positions(pl.DataFrame(schema=RAW_SCHEMA), [], seq), source, [bad], trusted_json=True)
        return self._parse_block(bytes(piece), n_lines, source, first_line, seq)  # the slow path: a copy is cheap

    def _pieces(self, stream: BinaryIO) -> Iterator[bytes | bytearray | _LongLine]:
        """Blocks of whole lines in file order, with each line too long to hold as a _LongLine. Each
        block is read straight into a buffer of its own after the partial line the block before
        ended with, so a block is never copied whole."""
        carry, first = b"", True
        while True:
            buffer = bytearray(len(carry) + self.block_bytes)
            buffer[: len(carry)] = carry
            read = _fill(stream, memoryview(buffer)[len(carry) :])
            del buffer[len(carry) + read :]
            if first and buffer.startswith(BOM):
                del buffer[: len(BOM)]
            first = False
            if not read:
                break
            cut = buffer.rfind(b"\n") + 1
            carry = bytes(memoryview(buffer)[cut:])
            del buffer[cut:]
            if cut:
                yield buffer
            if len(carry) > self.max_line_bytes:
                long_line, carry = self._read_past(stream, carry)
                yield long_line
        if carry:
            yield carry

    def _read_past(self, stream: BinaryIO, start: bytes) -> tuple[_LongLine, bytes]:
        """Read to the end of the line `start` begins, keeping only its head; also the bytes after it."""
        head, size = start[:RAW_PREFIX_BYTES], len(start)
        while block := stream.read(self.block_bytes):
            end = block.find(b"\n")
            if end >= 0:
                return _LongLine(head, size + end), block[end + 1 :]
            size += len(block)
        return _LongLine(head, size), b""

    def _too_long(self, size: int) -> str:
        return f"line is {_size(size)}, over the {_size(self.max_line_bytes)} limit for one record"

    def _parse_block(self, chunk: bytes, n_lines: int, source: str, first_line: int, seq: int) -> RawBatch:
        """A block of whole lines: over-long lines set aside, the rest parsed."""
        long: list[Malformed] = []
        if len(chunk) > self.max_line_bytes:  # only then can a line in it be over the limit
            texts = chunk.split(b"\n")
            for offset, text in enumerate(texts):
                if len(text) > self.max_line_bytes:
                    long.append(
                        Malformed(source, first_line + offset, self._too_long(len(text)), raw_text(text), len(text))
                    )
                    texts[offset] = b""
            if long:
                chunk = b"\n".join(texts)
        batch = self._parse_polars(chunk, n_lines, source, first_line, seq)
        if long:
            batch.malformed = sorted([*long, *batch.malformed], key=lambda m: m.line or 0)
        return batch

    def _parse_polars(self, chunk: bytes, n_lines: int, source: str, first_line: int, seq: int) -> RawBatch:
        """The fast path: the whole block at once; line by line when polars rejects or would misread it."""
        if _lone_surrogate(chunk) is not None:
            return self._parse_lines(chunk, source, first_line, seq)
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
            text = text.removesuffix(b"\r")
            if not text.strip():
                continue
            number = first_line + offset
            reason = line_problem(text)
            if reason is None:
                good.append(text)
                good_lines.append(number)
            else:
                bad.append(Malformed(source, number, reason, raw_text(text), len(text)))
        frame, good_lines, refused = _parsed_together(good, good_lines, source)
        bad = sorted([*bad, *refused], key=lambda m: m.line or 0)
        return RawBatch(_with_positions(frame, good_lines, seq), source, bad, trusted_json=True)


def line_problem(text: bytes | bytearray) -> str | None:
    """Why one line cannot be a record, or None when Python's JSON parser accepts it as an object."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    try:
        value = json.loads(decoded, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"
    except ValueError as exc:  # NaN or Infinity, which JSON does not have
        return f"invalid JSON: {exc}"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    if not isinstance(value, dict):
        return f"not a JSON object ({_JSON_NAMES.get(type(value), 'a value')})"
    lone = _lone_surrogate(text)
    if lone is not None:
        escape, column = lone
        return f"invalid JSON: {escape} at column {column} is half of a UTF-16 surrogate pair, not a character"
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _parsed_together(
    texts: list[bytes], lines: list[int], source: str
) -> tuple[pl.DataFrame, list[int], list[Malformed]]:
    """Lines Python's parser accepted, parsed by polars at once; when polars refuses the lot (it is
    stricter in places, e.g. about nesting depth), line by line to name the lines it refuses."""
    refused: list[Malformed] = []
    try:
        frame = _read_ndjson(texts)
    except Exception:  # noqa: BLE001 - polars refuses some line: find which
        for text, line in zip(texts, lines, strict=True):
            try:
                pl.read_ndjson(io.BytesIO(text), schema=RAW_SCHEMA)
            except Exception as exc:  # noqa: BLE001
                refused.append(
                    Malformed(
                        source, line, f"unreadable record: {str(exc).splitlines()[0]}", raw_text(text), len(text)
                    )
                )
        dropped = {m.line for m in refused}
        texts = [text for text, line in zip(texts, lines, strict=True) if line not in dropped]
        lines = [line for line in lines if line not in dropped]
        frame = _read_ndjson(texts)
    return _rewrite_miswritten(frame, b"\n".join(texts), 0, list(range(len(texts)))), lines, refused


def _read_ndjson(texts: list[bytes]) -> pl.DataFrame:
    if not texts:  # polars reads nothing as a frame without columns
        return pl.DataFrame(schema=RAW_SCHEMA)
    return pl.read_ndjson(io.BytesIO(b"\n".join(texts)), schema=RAW_SCHEMA)


def _lone_surrogate(data: bytes | bytearray) -> tuple[str, int] | None:
    """The first escaped UTF-16 surrogate without its other half in `data`, and its 1-based column."""
    pending: re.Match[bytes] | None = None  # a high surrogate waiting for its low one
    for match in _SURROGATE.finditer(data):
        start = match.start()
        slashes = start
        while slashes and data[slashes - 1] == 0x5C:
            slashes -= 1
        if (start - slashes) % 2:  # an escaped backslash followed by "u...": plain text, no escape
            continue
        high = int(match.group()[2:], 16) < 0xDC00
        if pending is not None:
            if not high and start == pending.end():  # the pair is complete
                pending = None
                continue
            break  # the pending high one stands alone
        if not high:
            return match.group().decode("ascii"), start + 1
        pending = match
    return None if pending is None else (pending.group().decode("ascii"), pending.start() + 1)


def raw_text(raw: bytes | bytearray) -> str:
    """The first bytes of a malformed line as text, for the quarantine."""
    return raw[:RAW_PREFIX_BYTES].decode("utf-8", "replace")


def _size(n: int) -> str:
    """A byte count for people: 812 bytes, 40.0 KiB, 50.0 MiB."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


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
