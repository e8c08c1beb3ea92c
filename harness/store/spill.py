"""Values put aside on disk by key, read back grouped by key: for a reader that must gather a
whole group before it can build anything (spans by trace), so its memory stays bounded however
large the group's files are.

Keys are numbered in the order each is first put, and every `KEYS_PER_PART` consecutive keys
share a part. A scratch DuckDB file under the temporary directory holds the values with their
part; reading back takes one part at a time (a part's rows sit mostly in the same row groups, which
DuckDB's zone maps find), so only one part's values are ever in memory. What stays in memory
throughout is each key's number. The file is removed when the spill is closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import duckdb

from harness.scratch import scratch_directory
from harness.store._polars import pl
from harness.store.connection import registered

__all__ = ["Spill"]

KEYS_PER_PART = 1_000
"""Keys read back together: a part's values are what is in memory at once."""
_FLUSH = 5_000
"""Values buffered in memory before they are written out."""


class Spill:
    """Values by key in a scratch file: `put(key, value)` many times, then `groups()` once, then `close()`."""

    def __init__(self) -> None:
        self._directory = scratch_directory("spill")  # a killed ingest's is removed by the next spill
        self._con = duckdb.connect(str(Path(self._directory.name) / "spill.duckdb"))
        self._con.execute("SET memory_limit = '256MB'")
        self._con.execute("CREATE TABLE spill (part BIGINT, number BIGINT, key VARCHAR, value BLOB)")
        self._numbers: dict[str, int] = {}
        self._rows: list[tuple[int, str, bytes]] = []

    def put(self, key: str, value: bytes) -> None:
        """Put one value aside under `key`."""
        self._rows.append((self._numbers.setdefault(key, len(self._numbers)), key, value))
        if len(self._rows) >= _FLUSH:
            self._flush()

    def groups(self) -> Iterator[tuple[str, list[bytes]]]:
        """Each key with its values, keys in first-put order, values in put order (rowid: rows are
        appended in put order)."""
        self._flush()
        for part in range((len(self._numbers) + KEYS_PER_PART - 1) // KEYS_PER_PART):
            rows = self._con.execute("SELECT number, key, value FROM spill WHERE part = ? ORDER BY number, rowid",
                                     [part]).fetchall()
            for _, group in groupby(rows, key=itemgetter(0)):
                values = list(group)
                yield values[0][1], [value for _, _, value in values]

    def close(self) -> None:
        """Remove the scratch file."""
        self._con.close()
        self._directory.cleanup()

    def _flush(self) -> None:
        if not self._rows:
            return
        batch = pl.DataFrame(self._rows, schema={"number": pl.Int64, "key": pl.String, "value": pl.Binary},
                             orient="row")
        with registered(self._con, "_batch", batch):
            self._con.execute(f"INSERT INTO spill SELECT number // {KEYS_PER_PART}, number, key, value FROM _batch")
        self._rows = []
