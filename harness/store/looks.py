"""SQL for looks (one evaluation of the gates during a sequential replay or a live canary), the
order a sequential replay draws requests in, and the byte offsets `harness watch` has read."""

from __future__ import annotations

import json
from typing import Any

from harness.store._polars import pl
from harness.store.connection import one, registered
from harness.store.runs import _HasConnection

__all__ = ["LookQueries"]


class LookQueries:
    """Mixin of Store: looks, dataset units, watched files."""

    def dataset_units(self: _HasConnection, dataset: str) -> pl.DataFrame:
        """Every request of a dataset in ingest order with its user and session (to draw waves from)."""
        return self._frame("SELECT request_id, user_id, session_id FROM requests WHERE dataset = ? ORDER BY seq",
                           [dataset])

    def save_look(self: _HasConnection, scope: str, look: dict[str, Any]) -> None:
        """Record a look of a run (sequential replay) or a watch; a look number is written once."""
        with self._connection(write=True) as con:
            con.execute(
                "INSERT OR REPLACE INTO looks (scope, look, kind, n_requests, n_units, spend_usd, decision, verdict,"
                " reason, checks, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                [scope, look["look"], look["kind"], look["n_requests"], look.get("n_units"), look.get("spend_usd"),
                 look["decision"], look.get("verdict"), look.get("reason"), json.dumps(look["checks"])],
            )

    def looks(self: _HasConnection, scope: str) -> list[dict[str, Any]]:
        """A run's or a watch's looks in order, checks parsed."""
        rows = self._frame("SELECT * EXCLUDE (created_at) FROM looks WHERE scope = ? ORDER BY look", [scope]).to_dicts()
        for row in rows:
            row["checks"] = json.loads(row["checks"])
        return rows

    def watch_files(self: _HasConnection, watch: str) -> dict[str, dict[str, Any]]:
        """Per file path, what a watch has read of it: file id, byte offset, and its first bytes."""
        rows = self._frame('SELECT path, file_id, "offset", head FROM watch_files WHERE watch = ?', [watch])
        return {r["path"]: r for r in rows.to_dicts()}

    def watch_records(self: _HasConnection, watch: str) -> pl.DataFrame:
        """Every record a watch has counted, in the order it read them."""
        return self._frame("SELECT * EXCLUDE (watch) FROM watch_records WHERE watch = ? ORDER BY seq", [watch])

    def save_watch_read(self: _HasConnection, watch: str, records: pl.DataFrame, files: list[dict[str, Any]]) -> int:
        """Add what a watch read (a record already counted is ignored: nothing counts twice) and the
        offsets it read up to, in one transaction; returns the records added."""
        with self._connection(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            before = one(con, "SELECT count(*) FROM watch_records WHERE watch = ?", [watch])
            if records.height:
                with registered(con, "_watch_batch", records):
                    con.execute("INSERT OR IGNORE INTO watch_records SELECT ? AS watch, request_id, arm, seq, user_id,"
                                ' "timestamp", error, latency_ms, cost_usd, tool_calls, source FROM _watch_batch',
                                [watch])
            after = one(con, "SELECT count(*) FROM watch_records WHERE watch = ?", [watch])
            for f in files:
                con.execute('INSERT OR REPLACE INTO watch_files (watch, path, file_id, "offset", head, updated_at)'
                            " VALUES (?, ?, ?, ?, ?, now())", [watch, f["path"], f["file_id"], f["offset"], f["head"]])
            con.execute("COMMIT")
        return int(after[0]) - int(before[0])  # type: ignore[index]
