"""Shared by the readers that convert other log formats into canonical records.

A converter turns its format into canonical record dicts (the shape in datasets/README.md)
and calls `batch_from_records`; everything after that (validation, quarantine, loading) is
the same as for canonical JSON Lines. Missing values stay missing: never invent numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from harness.canonical import CANONICAL_COLUMNS, Malformed
from harness.capture.base import RawBatch

__all__ = ["Located", "batch_from_records"]

_NESTED = ("input", "metadata", "reference", "captured")
Located = tuple[int, Any]
"""A parsed document and its 1-based line (or position in a JSON array)."""


def batch_from_records(records: Iterable[tuple[int, dict[str, Any]]], source: str, seq_start: int,
                       malformed: list[Malformed] | None = None, seqs: list[int] | None = None) -> RawBatch:
    """A RawBatch of canonical columns from (line, record) pairs: strings stay strings, nested
    values become JSON text, exactly what the JSON Lines reader would have produced. Rows are
    numbered from `seq_start`, or by `seqs` (one per record) when given. A record whose text holds
    a lone UTF-16 surrogate is set aside among the batch's malformed lines."""
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
    numbers = seqs if seqs is not None else range(seq_start, seq_start + len(lines))
    try:
        frame = _frame(rows, lines, numbers)
    except UnicodeEncodeError:  # a lone surrogate ("\\ud83d" in the JSON) is no character: set its lines aside
        keep, refused = _encodable(rows, lines, source)
        rows = {c: [rows[c][i] for i in keep] for c in CANONICAL_COLUMNS}
        malformed = [*(malformed or []), *refused]
        frame = _frame(rows, [lines[i] for i in keep], [numbers[i] for i in keep])
    return RawBatch(frame, source, malformed or [], trusted_json=True)


def _frame(rows: dict[str, list[Any]], lines: list[int], seqs: Sequence[int]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={c: pl.String for c in CANONICAL_COLUMNS}).with_columns(
        pl.Series("_line", lines, dtype=pl.Int64), pl.Series("_seq", seqs, dtype=pl.Int64))


def _encodable(rows: dict[str, list[Any]], lines: list[int], source: str) -> tuple[list[int], list[Malformed]]:
    """The indexes of the rows whose text is valid UTF-8, and a Malformed for each other row."""
    keep: list[int] = []
    refused: list[Malformed] = []
    for i, line in enumerate(lines):
        try:
            for column in CANONICAL_COLUMNS:
                if rows[column][i] is not None:
                    rows[column][i].encode("utf-8")
            keep.append(i)
        except UnicodeEncodeError:
            refused.append(Malformed(source, line, "a text holds half of a UTF-16 surrogate pair (a lone"
                                     " \\ud800-\\udfff escape), which is not a character"))
    return keep, refused
