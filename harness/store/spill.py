"""Values put aside on disk by key, read back grouped by key: for a reader that must gather a
whole group before it can build anything (spans by trace), so its memory stays bounded however
large the group's files are.

Keys are numbered in the order each is first put, and every `KEYS_PER_PART` consecutive keys
share a part. A scratch DuckDB file under the temporary directory holds the values with their
part; reading back takes one part at a time (a part's rows sit mostly in the same row groups, which
DuckDB's zone maps find), so only one part's values are ever in memory. What stays in memory
throughout is each key's number. Keys may instead be read back in groups the caller makes after
putting them (runs by the trace they turn out to belong to): one pass over the table deals the
values into bucket files of consecutive groups, then each bucket is read and sorted in memory
(DuckDB's own sort of the values by group runs out of memory on large values past a few hundred
MB, at its memory limit). The files are removed when the spill is closed.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from harness.scratch import scratch_directory
from harness.store._polars import pl
from harness.store.connection import registered

__all__ = ["Spill"]

KEYS_PER_PART = 1_000
"""Keys read back together: a part's values are what is in memory at once."""
BUCKET_BYTES = 32 << 20
"""Values of consecutive groups read back together by `regrouped` (a group is never split)."""
_FLUSH = 5_000
"""Values buffered in memory before they are written out."""


class Spill:
    """Values by key in a scratch file: `put(key, value)` many times, then `groups()` or `regrouped()`
    once, then `close()`."""

    def __init__(self) -> None:
        self._directory = scratch_directory("spill")  # a killed ingest's is removed by the next spill
        self._con = duckdb.connect(str(Path(self._directory.name) / "spill.duckdb"))
        self._con.execute("SET memory_limit = '128MB'")
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

    def regrouped(self, membership: Iterable[tuple[str, int]]) -> Iterator[tuple[int, dict[str, list[bytes]]]]:
        """Each group the caller numbered (`membership`: a key and its group) with its keys' values,
        groups in ascending number, keys in first-put order and values in put order; keys in no
        group are left out. The values are first dealt into bucket files of consecutive groups
        (about BUCKET_BYTES each), then each bucket is read and sorted in memory."""
        self._flush()
        groups = pl.DataFrame([(self._numbers[key], group) for key, group in membership],
                              schema={"number": pl.Int64, "grp": pl.Int64}, orient="row")
        with registered(self._con, "_groups", groups):
            self._con.execute(f"""CREATE TEMP TABLE _buckets AS SELECT grp, (sum(bytes) OVER (ORDER BY grp)
                                  - bytes) // {BUCKET_BYTES} AS bucket FROM (SELECT g.grp, sum(octet_length(s.value))
                                  AS bytes FROM spill s JOIN _groups g USING (number) GROUP BY g.grp)""")
            buckets = self._dealt()
        self._con.execute("SET memory_limit = '16MB'")  # the table is read no more: let its cached blocks go
        for bucket in buckets:
            with open(bucket, "rb") as f:
                rows = _unpickled(f)
            bucket.unlink()
            rows.sort(key=itemgetter(0, 1, 2))  # group, key's number, put order
            for group, members in groupby(rows, key=itemgetter(0)):
                values: dict[str, list[bytes]] = {}
                for _, _, _, key, value in members:
                    values.setdefault(key, []).append(value)
                yield group, values

    def _dealt(self) -> list[Path]:
        """Every value of a group into its bucket's file (group, key's number, rowid, key, value, as
        pickles): the bucket files in order."""
        n_buckets = self._con.execute("SELECT coalesce(max(bucket) + 1, 0) FROM _buckets").fetchall()[0][0]
        paths = [Path(self._directory.name) / f"bucket-{i}.pickles" for i in range(n_buckets)]
        files = [open(path, "wb") for path in paths]  # noqa: SIM115 - closed below, all together
        try:
            result = self._con.execute("SELECT b.bucket, g.grp, s.number, s.rowid, s.key, s.value FROM spill s"
                                       " JOIN _groups g USING (number) JOIN _buckets b USING (grp)")
            while rows := result.fetchmany(_FLUSH):
                for bucket, *row in rows:
                    pickle.dump(row, files[bucket], 5)
        finally:
            for f in files:
                f.close()
        return paths

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


def _unpickled(f: BinaryIO) -> list[list[Any]]:
    """Every pickle in a bucket file."""
    rows = []
    while True:
        try:
            rows.append(pickle.load(f))
        except EOFError:
            return rows
