"""Shared by the readers that convert other log formats into canonical records.

A converter turns its format into canonical record dicts (the shape in datasets/README.md)
and calls `batch_from_records`; everything after that (validation, quarantine, loading) is
the same as for canonical JSON Lines. Missing values stay missing: never invent numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import polars as pl

from harness.canonical import CANONICAL_COLUMNS, Malformed
from harness.capture.base import RawBatch

__all__ = ["Located", "batch_from_records"]

_NESTED = ("input", "metadata", "reference", "captured")
Located = tuple[int, Any]
"""A parsed document and its 1-based line (or position in a JSON array)."""


def batch_from_records(records: Iterable[tuple[int, dict[str, Any]]], source: str, seq_start: int,
                       malformed: list[Malformed] | None = None) -> RawBatch:
    """A RawBatch of canonical columns from (line, record) pairs: strings stay strings, nested
    values become JSON text, exactly what the JSON Lines reader would have produced."""
    rows: dict[str, list[Any]] = {c: [] for c in CANONICAL_COLUMNS}
    lines: list[int] = []
    for line, record in records:
        for column in CANONICAL_COLUMNS:
            value = record.get(column)
            if value is not None and not isinstance(value, str) and (column in _NESTED or column == "timestamp"):
                value = json.dumps(value, ensure_ascii=False, default=str) if column in _NESTED else str(value)
            elif value is not None and not isinstance(value, str):
                value = str(value)
            rows[column].append(value)
        lines.append(line)
    frame = pl.DataFrame(rows, schema={c: pl.String for c in CANONICAL_COLUMNS}).with_columns(
        pl.Series("_line", lines, dtype=pl.Int64),
        pl.int_range(seq_start, seq_start + len(lines), dtype=pl.Int64).alias("_seq"),
    )
    return RawBatch(frame, source, malformed or [], trusted_json=True)
