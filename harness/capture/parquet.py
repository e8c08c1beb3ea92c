"""The canonical record as Parquet: columns by name, nested fields as structs or JSON strings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from harness.canonical import CANONICAL_COLUMNS
from harness.capture.base import RawBatch, SingleFileReader
from harness.errors import IngestError

__all__ = ["ParquetReader"]


class ParquetReader(SingleFileReader):
    name = "parquet"

    def __init__(self, batch_rows: int = 100_000) -> None:
        self.batch_rows = batch_rows

    def read(self, path: Path, hasher: Any, seq_start: int) -> Iterator[RawBatch]:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                hasher.update(block)
        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors vary by corruption
            raise IngestError(f"{path}: not a readable Parquet file: {exc}") from None
        names = parquet.schema_arrow.names
        columns = [c for c in CANONICAL_COLUMNS if c in names]
        if "request_id" not in columns or "input" not in columns:
            raise IngestError(f"{path}: a Parquet log needs at least the columns request_id and input")
        row = 1
        for batch in parquet.iter_batches(batch_size=self.batch_rows, columns=columns):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            frame = frame.with_columns(
                pl.int_range(row, row + frame.height, dtype=pl.Int64).alias("_line"),
                pl.int_range(seq_start + row - 1, seq_start + row - 1 + frame.height, dtype=pl.Int64).alias("_seq"),
            )
            row += frame.height
            yield RawBatch(frame, str(path))
