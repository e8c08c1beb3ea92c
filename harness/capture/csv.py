"""The canonical record as CSV: the same column names, nested fields as JSON strings.

Rows are read with Python's csv module, which names each row's first line and copes with
what real exports hold: quoted fields spanning lines, blank lines, a BOM, CRLF. A row with
the wrong number of fields, invalid UTF-8, or a quoted field the file ends inside of (a
truncated export) is set aside with its line; reading goes on after it.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from harness.canonical import CANONICAL_COLUMNS, Malformed
from harness.capture.base import BOM, RawBatch, SingleFileReader, open_source
from harness.errors import IngestError

__all__ = ["CsvReader"]

# Bytes that are not UTF-8, as the "surrogateescape" error handler decodes them.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


class CsvReader(SingleFileReader):
    name = "csv"

    def read(self, path: Path, hasher: Any, seq_start: int) -> Iterator[RawBatch]:
        with open_source(path, hasher) as stream:
            data = stream.read().removeprefix(BOM)
        source = str(path)
        if not data.strip():
            return
        frame, rows, bad = _read_rows(data, source)
        columns = [c for c in CANONICAL_COLUMNS if c in frame.columns]
        if "request_id" not in columns or "input" not in columns:
            raise IngestError(f"{source}: a CSV log needs at least the columns request_id and input")
        frame = frame.select(columns).with_columns(
            pl.Series("_line", rows, dtype=pl.Int64),
            pl.int_range(seq_start, seq_start + frame.height, dtype=pl.Int64).alias("_seq"),
        )
        yield RawBatch(frame, source, bad)


def _read_rows(data: bytes, source: str) -> tuple[pl.DataFrame, list[int], list[Malformed]]:
    """Rows as text (empty fields missing), the first line of each, and the rows set aside."""
    csv.field_size_limit(sys.maxsize)
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    header: list[str] | None = None
    records: list[dict[str, str | None]] = []
    rows: list[int] = []
    bad: list[Malformed] = []
    resume = 0  # index of the first line still to read
    while resume < len(lines):
        reader = csv.reader(line + "\n" for line in lines[resume:])
        end = resume  # lines read so far
        last: tuple[int, list[str]] | None = None
        for values in reader:
            first, end = end + 1, resume + reader.line_num
            if not any(v.strip() for v in values):
                continue
            if header is None:
                header = [_readable(v) for v in values]
                continue
            last = (first, values)
            reason = _problem(values, header)
            if reason is None:
                records.append({k: (v if v != "" else None) for k, v in zip(header, values, strict=True)})
                rows.append(first)
            else:
                bad.append(Malformed(source, first, reason, _readable(",".join(values))))
        if last is None or end < len(lines) or not _unterminated(lines[last[0] - 1 : end]):
            break
        # The file ends inside a quoted field that opened on the last row's first line: that row
        # is truncated, and the lines it swallowed are read again as rows of their own.
        first, values = last
        if bad and bad[-1].line == first:
            bad.pop()
        else:
            records.pop()
            rows.pop()
        bad.append(
            Malformed(source, first, "unterminated quoted field: the file ends inside it", _readable(lines[first - 1]))
        )
        resume = first
    names = header or []
    schema = {h: pl.String for h in names}
    frame = pl.DataFrame(records, schema=schema) if records else pl.DataFrame(schema=schema)
    return frame, rows, bad


def _problem(values: list[str], header: list[str]) -> str | None:
    if len(values) != len(header):
        return f"row has {len(values)} fields, the header has {len(header)}"
    for value in values:
        undecodable = _UNDECODABLE.search(value)
        if undecodable is not None:
            return f"invalid UTF-8 (byte 0x{ord(undecodable.group()) - 0xDC00:02x})"
    return None


def _unterminated(lines: list[str]) -> bool:
    """True when these lines (one row) end inside a quoted field, as strict CSV parsing says."""
    try:
        for _ in csv.reader((line + "\n" for line in lines), strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _readable(text: str) -> str:
    """Text with undecodable bytes shown as U+FFFD, fit for the store."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
