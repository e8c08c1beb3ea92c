"""SQL for tool_events: what the sandbox did with each tool call, written with its response."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from typing import Any, Protocol

import duckdb

from harness.records import ToolEvent
from harness.store._polars import pl
from harness.store.connection import record_frame, registered

__all__ = ["ToolEventQueries", "replace_tool_events", "TOOL_EVENT_COLUMNS"]

TOOL_EVENT_COLUMNS = tuple(f.name for f in fields(ToolEvent))


class _HasConnection(Protocol):
    def _connection(self, write: bool = False) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...
    def _frame(self, query: str, params: list[Any] | None = None) -> pl.DataFrame: ...


def replace_tool_events(con: duckdb.DuckDBPyConnection, run_id: str, responses: str,
                        events: Sequence[ToolEvent]) -> None:
    """Inside the caller's transaction: the events of the responses in the registered relation
    `responses` become exactly `events` (a response written again never keeps an earlier
    session's events)."""
    con.execute(f"DELETE FROM tool_events e USING {responses} k WHERE e.run_id = ? AND e.request_id = k.request_id"
                " AND e.arm = k.arm AND e.sample = k.sample", [run_id])
    if not events:
        return
    batch = record_frame(ToolEvent, events)
    columns = ", ".join(f'"{c}"' for c in TOOL_EVENT_COLUMNS)
    with registered(con, "_batch_tool_events", batch):
        con.execute(f"INSERT OR REPLACE INTO tool_events ({columns}) SELECT {columns} FROM _batch_tool_events")


class ToolEventQueries:
    """Mixin of Store: reading tool_events."""

    def tool_events(self: _HasConnection, run_id: str, arm: str | None = None) -> pl.DataFrame:
        """Every sandboxed tool call of a run, in call order."""
        query = "SELECT * FROM tool_events WHERE run_id = ?"
        params: list[Any] = [run_id]
        if arm is not None:
            query += " AND arm = ?"
            params.append(arm)
        return self._frame(query + " ORDER BY request_id, arm, sample, attempt, step", params)

    def tool_event_summary(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """Per arm and tool: calls, blocked writes, misses, emulated results, live calls (unallowed live
        writes), errors."""
        return self._frame(
            """
            SELECT arm, tool, any_value(tool_class) AS tool_class, count(*) AS calls,
                   count(*) FILTER (WHERE blocked) AS blocked,
                   count(*) FILTER (WHERE blocked AND tool_class = 'write') AS writes_blocked,
                   count(*) FILTER (WHERE "match" = 'miss') AS misses,
                   count(*) FILTER (WHERE policy = 'emulate') AS emulated,
                   count(*) FILTER (WHERE policy = 'live') AS live,
                   count(*) FILTER (WHERE policy = 'live' AND tool_class = 'write' AND NOT coalesce(live_allowed, false))
                       AS live_writes_unallowed,
                   count(error) AS errors
            FROM tool_events WHERE run_id = ? GROUP BY arm, tool ORDER BY arm, tool
            """,
            [run_id],
        )

    def intended_writes(self: _HasConnection, run_id: str, limit: int = 8) -> pl.DataFrame:
        """Examples of write calls the sandbox blocked (first attempt of each, in request order)."""
        return self._frame(
            "SELECT arm, request_id, tool, arguments, arguments_digest FROM tool_events"
            " WHERE run_id = ? AND blocked AND tool_class = 'write' ORDER BY request_id, arm, step LIMIT ?",
            [run_id, limit],
        )
