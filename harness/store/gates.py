"""SQL for the gates: the per-request metrics table, gate results and verdicts, canary inputs."""

from __future__ import annotations

import json
from typing import Any

from harness.store._polars import pl
from harness.store.connection import one, registered
from harness.store.runs import _HasConnection

__all__ = ["GateQueries", "GATE_RESULT_COLUMNS"]

GATE_RESULT_COLUMNS = (
    "check_name", "segment_key", "segment_value", "metric", "statistic", "kind", "severity", "status",
    "estimate", "ci_low", "ci_high", "threshold", "margin", "noise_band", "n", "p_value", "p_adjusted",
    "mde", "n_needed", "source", "sentence", "details",
)  # fmt: skip


class GateQueries:
    """Mixin of Store: what the gates read and write."""

    def gate_requests(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """The run's requests that have responses, in ingest order: ids for clusters, metadata for segments."""
        return self._frame(
            """
            SELECT q.request_id, q.user_id, q.session_id, q.metadata
            FROM requests q JOIN runs r ON r.run_id = $run AND r.dataset = q.dataset
            WHERE q.request_id IN (SELECT DISTINCT request_id FROM responses WHERE run_id = $run)
            ORDER BY q.seq
            """,
            {"run": run_id},
        )

    def gate_responses(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """Per request and arm, over its samples: the error share, and cost and latency of the
        successful answers only (a cost of 0 or none is unknown, not free, and is counted apart,
        as are numbers not believed); calls the harness itself cancelled are not answers. From the
        tool sandbox: the share of its calls that matched no recording, and unallowed live writes."""
        return self._frame(
            """
            WITH tools AS (
                SELECT request_id, arm, sample, avg(CASE WHEN "match" = 'miss' THEN 1.0 ELSE 0.0 END) AS miss,
                       count(*) FILTER (WHERE policy = 'live' AND tool_class = 'write'
                                        AND NOT coalesce(live_allowed, false)) AS live_writes
                FROM tool_events WHERE run_id = $run GROUP BY ALL
            )
            SELECT request_id, arm, count(*) AS n, count(*) FILTER (WHERE error_type IS NULL) AS n_ok,
                   avg(CASE WHEN error_type IS NULL THEN 0.0 ELSE 1.0 END) AS error,
                   avg(cost_usd) FILTER (WHERE error_type IS NULL AND cost_usd > 0 AND isfinite(cost_usd)) AS cost_usd,
                   count(*) FILTER (WHERE error_type IS NULL AND cost_usd = 0) AS cost_zero,
                   count(*) FILTER (WHERE error_type IS NULL AND cost_usd IS NULL
                                    AND (invalid_values->>'$.cost_usd') IS NULL) AS cost_missing,
                   avg(latency_ms) FILTER (WHERE error_type IS NULL AND latency_ms >= 0 AND isfinite(latency_ms))
                       AS latency_ms,
                   avg(n_tool_calls) AS tool_calls,
                   count(*) FILTER (WHERE (invalid_values->>'$.cost_usd') IS NOT NULL) AS cost_invalid,
                   count(*) FILTER (WHERE (invalid_values->>'$.latency_ms') IS NOT NULL) AS latency_invalid,
                   avg(tools.miss) AS tool_miss, sum(tools.live_writes) AS live_writes
            FROM responses LEFT JOIN tools USING (request_id, arm, sample)
            WHERE run_id = $run AND NOT harness_cancelled
            GROUP BY ALL
            """,
            {"run": run_id},
        )

    def gate_scores(self: _HasConnection, run_id: str, scorers: list[str]) -> pl.DataFrame:
        """The run's scores of these scorers: request_id, scorer, arm_a, arm_b, value."""
        return self._frame(
            "SELECT request_id, scorer, arm_a, arm_b, value FROM scores"
            " WHERE run_id = ? AND scorer IN (SELECT unnest(?::VARCHAR[])) AND value IS NOT NULL",
            [run_id, scorers],
        )

    def score_details(self: _HasConnection, run_id: str, scorer: str) -> pl.DataFrame:
        """request_id, arm_a, arm_b, details (JSON text) of one scorer's rows."""
        return self._frame(
            "SELECT request_id, arm_a, arm_b, details FROM scores WHERE run_id = ? AND scorer = ?"
            " ORDER BY request_id, arm_a", [run_id, scorer])

    def save_tool_classes(self: _HasConnection, run_id: str, rows: list[dict[str, str]]) -> None:
        """Replace the tool classes a run was scored with."""
        batch = pl.DataFrame(rows, schema={"tool": pl.String, "class": pl.String, "rule": pl.String})
        with self._connection(write=True) as con, registered(con, "_classes", batch):
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM tool_classes WHERE run_id = ?", [run_id])
            con.execute('INSERT INTO tool_classes SELECT ?, tool, "class", rule FROM _classes', [run_id])
            con.execute("COMMIT")

    def tool_classes(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """tool, class (read / write) and the rule that decided, for every tool a run's scoring saw."""
        return self._frame('SELECT tool, "class", rule FROM tool_classes WHERE run_id = ? ORDER BY "class" DESC, tool',
                           [run_id])

    def save_gate_results(self: _HasConnection, run_id: str, results: pl.DataFrame, verdict: str,
                          reasons: list[str], settings: dict[str, Any],
                          findings: list[dict[str, Any]] | None = None) -> None:
        """Replace a run's gate results and verdict, in one transaction."""
        columns = ", ".join(f'"{c}"' for c in GATE_RESULT_COLUMNS)
        with self._connection(write=True) as con, registered(con, "_gates", results.select(GATE_RESULT_COLUMNS)):
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM gate_results WHERE run_id = ?", [run_id])
            con.execute(f"INSERT INTO gate_results (run_id, {columns}, created_at) SELECT ?, {columns}, now()"
                        " FROM _gates", [run_id])
            con.execute("INSERT OR REPLACE INTO verdicts (run_id, verdict, reasons, settings, created_at, findings)"
                        " VALUES (?, ?, ?, ?, now(), ?)",
                        [run_id, verdict, json.dumps(reasons), json.dumps(settings), json.dumps(findings or [])])
            con.execute("COMMIT")

    def gate_results(self: _HasConnection, run_id: str, *, segments: bool = False) -> pl.DataFrame:
        """A run's checks (overall, or with segments=True the per-segment ones too)."""
        where = "" if segments else " AND segment_key = ''"
        return self._frame(
            f"SELECT * EXCLUDE (run_id) FROM gate_results WHERE run_id = ?{where}"
            " ORDER BY segment_key <> '', segment_key, segment_value, severity, check_name",
            [run_id],
        )

    def verdict(self: _HasConnection, run_id: str) -> dict[str, Any] | None:
        """The run's latest verdict with its reasons, or None if it was never gated."""
        with self._connection() as con:
            row = one(con, "SELECT verdict, reasons, settings, created_at, findings FROM verdicts WHERE run_id = ?",
                      [run_id])
        if row is None:
            return None
        return {"verdict": row[0], "reasons": json.loads(row[1]), "settings": json.loads(row[2] or "null"),
                "created_at": row[3], "findings": json.loads(row[4] or "[]")}

    def canary_inputs(self: _HasConnection, dataset: str) -> pl.DataFrame:
        """Requests per user (requests without a user count on their own) and the log's time span."""
        return self._frame(
            """
            SELECT coalesce(user_id, 'request:' || request_id) AS unit, user_id IS NOT NULL AS is_user,
                   count(*) AS requests, min("timestamp") AS first_seen, max("timestamp") AS last_seen
            FROM requests WHERE dataset = ? GROUP BY ALL ORDER BY unit
            """,
            [dataset],
        )

    def captured_error_rate(self: _HasConnection, dataset: str, variant: str = "prod") -> tuple[float | None, int]:
        """Share of a captured variant's outputs that were errors, and how many outputs there are."""
        with self._connection() as con:
            row = one(con, "SELECT avg(CASE WHEN error_type IS NULL THEN 0.0 ELSE 1.0 END), count(*)"
                           " FROM captured WHERE dataset = ? AND variant = ?", [dataset, variant])
        return (None, 0) if row is None or not row[1] else (float(row[0]), int(row[1]))
