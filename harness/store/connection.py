"""Short-lived DuckDB connections that wait politely for another process's lock.

DuckDB lets one process write a file or several read it, never both at once. Every
Store operation therefore opens a connection, does its work and closes it, so a
notebook reading the file and a replay writing it take turns instead of failing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from functools import cache
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from harness.errors import StoreError, StoreLockedError
from harness.store._polars import pl

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["arrow_array", "numpy_bools", "connect", "is_lock_conflict", "one", "frame", "registered"]


def is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


@contextmanager
def connect(path: Path, *, read_only: bool, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open `path`, retrying while another process holds a conflicting lock for up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    delay = 0.005
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not is_lock_conflict(exc):
                raise StoreError(f"cannot open {path}: {exc}") from None
            if time.monotonic() >= deadline:
                raise StoreLockedError(
                    f"{path} stayed locked by another process for {wait_s:.0f}s: {exc}"
                ) from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from None
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.25)
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def arrow_array(values: np.ndarray) -> pa.Array:
    """A numpy column of integers or booleans as an Arrow int64 or bool array over its buffer.
    `pa.array` would do it, but its first call imports pandas to ask whether the input is a
    pandas object: a fifth of a second on every ingest, which never needs pandas."""
    import numpy as np
    import pyarrow as pa

    if values.dtype == np.bool_:
        column = np.ascontiguousarray(values).view(np.uint8)
        return pa.Array.from_buffers(pa.uint8(), len(column), [None, pa.py_buffer(column)]).cast(pa.bool_())
    column = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(column), [None, pa.py_buffer(column)])


def numpy_bools(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow bool column (plain, or DuckDB's one-byte bool8) as numpy booleans, null as False,
    without the import of pandas that its `to_numpy` makes (see arrow_array)."""
    import numpy as np
    import pyarrow as pa

    flat = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(flat, pa.ExtensionArray):
        flat = flat.storage  # bool8: one byte per value
    if flat.type == pa.bool_():
        flat = flat.cast(pa.uint8())  # bits to bytes
    values = np.frombuffer(flat.buffers()[1], dtype=np.uint8, count=len(flat), offset=flat.offset) != 0
    if flat.null_count:
        bits = np.unpackbits(np.frombuffer(flat.buffers()[0], dtype=np.uint8), bitorder="little")
        values &= bits[flat.offset: flat.offset + len(flat)].astype(bool)
    return values


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, data: pl.DataFrame | pa.Table) -> Iterator[None]:
    """Make a polars frame or an Arrow table queryable as `name` for the length of the block."""
    con.register(name, data)
    try:
        yield
    finally:
        con.unregister(name)


def one(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> tuple[Any, ...] | None:
    """The first row of a query, draining the result (DuckDB 2 keeps unfinished results open)."""
    rows = con.execute(query, params).fetchall()
    return rows[0] if rows else None


def frame(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> pl.DataFrame:
    """A query's result as a polars DataFrame, through Arrow."""
    return con.sql(query, params=params).pl()


def fetch_rows(con: duckdb.DuckDBPyConnection, query: str,
               params: Any = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """A query's column names and rows as Python values, for a few rows (no polars, no Arrow)."""
    cursor = con.execute(query, params)
    found = cursor.fetchall()
    return [d[0] for d in cursor.description], found


def small_frame(con: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> pl.DataFrame:
    """A few rows as a polars DataFrame built from Python values: no Arrow, whose import alone costs
    a quick command a third of its time. An empty result goes through Arrow for its column types."""
    names, found = fetch_rows(con, query, params)
    if not found:
        return frame(con, query, params)
    return pl.DataFrame(found, schema=names, orient="row", infer_schema_length=None)


ARM_ORDER = "CASE arm WHEN 'prod' THEN 0 WHEN 'prod_repeat' THEN 1 WHEN 'candidate' THEN 2 ELSE 3 END"
"""SQL ordering arms as every table shows them: prod, prod_repeat, candidate, then the rest."""


@cache
def record_schema(record: type) -> dict[str, Any]:
    """The polars schema of a dataclass record's rows, read off its fields (`int | None` is Int64):
    one definition of the columns, no copy to keep in step."""
    types = {"str": pl.String, "int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean,
             "datetime": pl.Datetime("us", "UTC")}
    return {f.name: types[str(f.type).split(" |")[0]] for f in fields(record)}


def record_frame(record: type, rows: Sequence[Any]) -> pl.DataFrame:
    """Dataclass records as a frame of their fields, read attribute by attribute: `astuple` would
    deep-copy every value, and a replay writes one of these per batch beside its event loop."""
    values = attrgetter(*record_schema(record))
    return pl.DataFrame([values(row) for row in rows], schema=record_schema(record), orient="row")
