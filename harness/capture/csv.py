"""The canonical record as CSV: the same column names, nested fields as JSON strings."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from harness.capture.base import BOM, RawBatch, SingleFileReader, open_source
from harness.errors import IngestError
from harness.store import CANONICAL_COLUMNS, Malformed

__all__ = ["CsvReader"]


class CsvReader(SingleFileReader):
    name = "csv"

    def read(self, path: Path, hasher: Any, seq_start: int) -> Iterator[RawBatch]:
        with open_source(path, hasher) as stream:
            data = stream.read().removeprefix(BOM)
        source = str(path)
        if not data.strip():
            return
        try:
            frame = pl.read_csv(io.BytesIO(data), infer_schema=False, missing_utf8_is_empty_string=False)
            bad: list[Malformed] = []
            rows = list(range(2, frame.height + 2))
        except Exception:  # noqa: BLE001 - ragged rows or bad bytes: find them one by one
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
    """Row-by-row reading with the csv module, to name the rows polars refused."""
    csv.field_size_limit(sys.maxsize)
    text = data.decode("utf-8", "replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None) or []
    records: list[dict[str, str | None]] = []
    rows: list[int] = []
    bad: list[Malformed] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            bad.append(Malformed(source, line, f"row has {len(values)} fields, the header has {len(header)}",
                                 ",".join(values)))
            continue
        if "\ufffd" in "".join(values):
            bad.append(Malformed(source, line, "invalid UTF-8", ",".join(values)))
            continue
        records.append({k: (v if v != "" else None) for k, v in zip(header, values, strict=True)})
        rows.append(line)
    frame = pl.DataFrame(records, schema={h: pl.String for h in header}) if records else pl.DataFrame(
        schema={h: pl.String for h in header}
    )
    return frame, rows, bad
