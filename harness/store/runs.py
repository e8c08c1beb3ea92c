"""SQL for runs and responses: what replay writes and what `runs` / `show` read."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from typing import Any, Protocol

import duckdb

from harness.errors import NotFoundError
from harness.names import what_exists
from harness.records import Response, ToolEvent
from harness.store._polars import pl
from harness.store.connection import ARM_ORDER, fetch_rows, one, record_frame, registered, small_frame
from harness.store.tool_events import replace_tool_events

__all__ = ["RunQueries", "RESPONSE_COLUMNS"]

RESPONSE_COLUMNS = tuple(f.name for f in fields(Response))

_RUNS = """
    SELECT r.run_id, r.dataset, r.status, r.profile, r.created_at, r.finished_at,
           r.n_planned, count(x.run_id) AS n_responses,
           count(x.error_type) AS n_errors, sum(x.cost_usd) AS cost_usd, r.message
    FROM runs r LEFT JOIN responses x USING (run_id)
    GROUP BY ALL ORDER BY r.created_at DESC
"""


class _HasConnection(Protocol):
    def _connection(self, write: bool = False) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...
    def _frame(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame: ...
    def _rows(self, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]: ...


class RunQueries:
    """Mixin of Store: runs, responses and the replay's bookkeeping."""

    # ---- reading ----------------------------------------------------------------------

    def runs(self: _HasConnection) -> pl.DataFrame:
        """Every run, newest first, with response and error counts and agent spend."""
        with self._connection() as con:
            return small_frame(con, _RUNS)

    def run_rows(self: _HasConnection) -> list[dict[str, Any]]:
        """What `runs()` holds, as one dict per run: for a listing that need not load polars."""
        return self._rows(_RUNS)

    def run(self: _HasConnection, run_id: str) -> dict[str, Any]:
        """One run's row; `config` and `plan` come back as dicts."""
        rows = self._rows("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if not rows:
            ids = [row["run_id"] for row in self._rows("SELECT run_id FROM runs ORDER BY created_at DESC")]
            raise NotFoundError(f"no run {run_id!r} in {getattr(self, 'path', 'the store')};"
                                f" {what_exists(run_id, ids, 'runs')}")
        row = rows[0]
        for key in ("config", "plan"):
            if row.get(key):
                row[key] = json.loads(row[key])
        return row

    def responses(self: _HasConnection, run_id: str, arm: str | None = None) -> pl.DataFrame:
        """One row per (request, arm, sample) of a run."""
        query = "SELECT * FROM responses WHERE run_id = ?"
        params: list[Any] = [run_id]
        if arm is not None:
            query += " AND arm = ?"
            params.append(arm)
        return self._frame(query + f" ORDER BY request_id, {ARM_ORDER}, sample", params)

    def arm_summary(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """Per arm: responses, errors, error rate, mean cost, p50/p95/p99 latency, tool calls, and
        answers with numbers not believed. Cost and latency are of successful answers (errors are
        what the error figures count); the total cost includes every answer that reported one."""
        return self._frame(
            f"""
            SELECT arm, count(*) AS n, count(error_type) AS errors,
                   count(error_type) / count(*) AS error_rate,
                   avg(cost_usd) FILTER (WHERE error_type IS NULL) AS mean_cost_usd, sum(cost_usd) AS total_cost_usd,
                   quantile_cont(latency_ms, 0.5) FILTER (WHERE error_type IS NULL) AS p50_ms,
                   quantile_cont(latency_ms, 0.95) FILTER (WHERE error_type IS NULL) AS p95_ms,
                   quantile_cont(latency_ms, 0.99) FILTER (WHERE error_type IS NULL) AS p99_ms,
                   avg(n_tool_calls) AS mean_tool_calls,
                   avg(input_tokens) AS mean_input_tokens, avg(output_tokens) AS mean_output_tokens,
                   count(invalid_values) AS invalid
            FROM responses WHERE run_id = ? AND NOT harness_cancelled GROUP BY arm ORDER BY {ARM_ORDER}
            """,
            [run_id],
        )

    # ---- replay bookkeeping -------------------------------------------------------------

    def create_run(self: _HasConnection, row: dict[str, Any]) -> None:
        with self._connection(write=True) as con:
            con.execute(
                "INSERT INTO runs (run_id, dataset, status, profile, config, plan, plan_digest,"
                " harness_version, n_planned, message, owner, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), now())",
                [row["run_id"], row["dataset"], row["status"], row.get("profile"),
                 json.dumps(row.get("config")), json.dumps(row.get("plan")), row.get("plan_digest"),
                 row.get("harness_version"), row.get("n_planned"), row.get("message"), row.get("owner")],
            )

    def update_run(self: _HasConnection, run_id: str, *, finished: bool = False, **fields: Any) -> None:
        """Set run columns (status, message, owner, config, ...) and the heartbeat."""
        sets = [f"{name} = ?" for name in fields] + ["updated_at = now()"]
        if finished:
            sets.append("finished_at = now()")
        values = [json.dumps(v) if isinstance(v, dict) else v for v in fields.values()]
        with self._connection(write=True) as con:
            con.execute(f"UPDATE runs SET {', '.join(sets)} WHERE run_id = ?", [*values, run_id])

    def clear_cancelled(self: _HasConnection, run_id: str) -> int:
        """Forget responses cancelled by a stop, so a resume redoes them."""
        with self._connection(write=True) as con:
            con.execute("DELETE FROM tool_events e USING responses r WHERE e.run_id = ? AND r.run_id = e.run_id"
                        " AND r.request_id = e.request_id AND r.arm = e.arm AND r.sample = e.sample"
                        " AND r.harness_cancelled", [run_id])
            row = con.execute(
                "DELETE FROM responses WHERE run_id = ? AND harness_cancelled RETURNING 1", [run_id]
            ).fetchall()
        return len(row)

    def pending_chunks(
        self: _HasConnection, run_id: str, dataset: str, chunk_size: int, first_size: int | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], set[tuple[str, str, int]]]]:
        """Requests in ingest order, a chunk of rows at a time (the first of `first_size` rows, when
        given), each with the (request_id, arm, sample) keys already done.

        Each chunk is one short read, so a million-request dataset is never held whole; rows are
        Python values (no polars), so a replay's first call does not wait for polars to load, and a
        small first chunk lets it start before a whole chunk is read.
        """
        after, size = -1, first_size or chunk_size
        while True:
            with self._connection() as con:
                names, found = fetch_rows(
                    con,
                    "SELECT seq, request_id, \"timestamp\", user_id, session_id, input, metadata, reference"
                    " FROM requests WHERE dataset = ? AND seq > ? ORDER BY seq LIMIT ?",
                    [dataset, after, size],
                )
                if not found:
                    return
                chunk = [dict(zip(names, row, strict=True)) for row in found]
                done = con.execute(
                    "SELECT request_id, arm, sample FROM responses"
                    " WHERE run_id = ? AND request_id IN (SELECT unnest(?::VARCHAR[]))",
                    [run_id, [row["request_id"] for row in chunk]],
                ).fetchall()
            after, size = int(chunk[-1]["seq"]), chunk_size
            yield chunk, set(done)

    def captured_rows(self: _HasConnection, dataset: str, variant: str, request_ids: list[str]) -> pl.DataFrame:
        """Captured outputs of one variant for some requests (the `captured` agent's answers)."""
        return self._frame(
            "SELECT * FROM captured WHERE dataset = ? AND variant = ?"
            " AND request_id IN (SELECT unnest(?::VARCHAR[]))",
            [dataset, variant, request_ids],
        )

    def write_responses(self: _HasConnection, run_id: str, responses: Sequence[Response],
                        tool_events: Sequence[ToolEvent] | None = None) -> None:
        """Insert a batch of responses (and, when given, their sandbox's tool events, replacing any
        earlier ones of the same responses) and beat the run's heartbeat, in one transaction."""
        batch = record_frame(Response, responses)
        columns = ", ".join(RESPONSE_COLUMNS)
        with self._connection(write=True) as con:
            with registered(con, "_batch_responses", batch):
                con.execute("BEGIN TRANSACTION")
                con.execute(
                    f"INSERT OR REPLACE INTO responses ({columns}) SELECT {columns} FROM _batch_responses"
                )
                if tool_events is not None:
                    replace_tool_events(con, run_id, "_batch_responses", tool_events)
                con.execute("UPDATE runs SET updated_at = now() WHERE run_id = ?", [run_id])
                con.execute("COMMIT")

    def run_totals(self: _HasConnection, run_id: str) -> dict[str, Any]:
        """Requests answered, responses so far, errors, and agent spend in USD (total and largest)."""
        with self._connection() as con:
            row = one(
                con,
                "SELECT count(DISTINCT request_id), count(*), count(error_type), coalesce(sum(cost_usd), 0),"
                " coalesce(max(cost_usd), 0) FROM responses WHERE run_id = ?",
                [run_id],
            )
        assert row is not None
        return {"n_requests": int(row[0]), "n_responses": int(row[1]), "n_errors": int(row[2]),
                "spend_usd": float(row[3]), "max_cost_usd": float(row[4])}

    def count_planned(self: _HasConnection, dataset: str, repeats: int, fraction: float, seed: int) -> int:
        """Responses a run will hold: prod and candidate for every request, prod_repeat for the
        selected share (the same md5 rule as replay.repeat_selected), each times `repeats`."""
        with self._connection() as con:
            row = one(
                con,
                "SELECT count(*), count(*) FILTER (WHERE"
                " ('0x' || left(md5(? || ':' || request_id), 8))::UBIGINT / 4294967296.0 < ?)"
                " FROM requests WHERE dataset = ?",
                [str(seed), fraction, dataset],
            )
        assert row is not None
        n, selected = int(row[0]), int(row[1])
        if fraction >= 1:
            selected = n
        elif fraction <= 0:
            selected = 0
        return (2 * n + selected) * repeats
