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
        self._con.execute("CREATE TABLE spill (part BIGINT, number BIGINT, key VARCHAR, n BIGINT, value BLOB)")
        self._numbers: dict[str, int] = {}
        self._rows: list[tuple[int, str, bytes]] = []
        self._n = 0

    def put(self, key: str, value: bytes) -> None:
        """Put one value aside under `key`."""
        number = self._numbers.setdefault(key, len(self._numbers))
        self._rows.append((number, key, value))
        if len(self._rows) >= _FLUSH:
            self._flush()

    def groups(self) -> Iterator[tuple[str, list[bytes]]]:
        """Each key with its values, keys in first-put order, values in put order."""
        self._flush()
        for part in range((len(self._numbers) + KEYS_PER_PART - 1) // KEYS_PER_PART):
            rows = self._con.execute("SELECT number, key, value FROM spill WHERE part = ? ORDER BY number, n",
                                     [part]).fetchall()
            at = 0
            while at < len(rows):
                end = at
                while end < len(rows) and rows[end][0] == rows[at][0]:
                    end += 1
                yield rows[at][1], [row[2] for row in rows[at:end]]
                at = end

    def close(self) -> None:
        """Remove the scratch file."""
        self._con.close()
        self._directory.cleanup()

    def _flush(self) -> None:
        if not self._rows:
            return
        numbers = [row[0] for row in self._rows]
        batch = pl.DataFrame({"part": [number // KEYS_PER_PART for number in numbers], "number": numbers,
                              "key": [row[1] for row in self._rows], "n": range(self._n, self._n + len(numbers)),
                              "value": [row[2] for row in self._rows]},
                             schema={"part": pl.Int64, "number": pl.Int64, "key": pl.String, "n": pl.Int64,
                                     "value": pl.Binary})
        with registered(self._con, "_batch", batch):
            self._con.execute("INSERT INTO spill SELECT * FROM _batch")
        self._n += len(numbers)
        self._rows = []
