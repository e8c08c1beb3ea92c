"""SQL for the gates: the per-request metrics table, gate results and verdicts, canary inputs."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from harness.store.connection import one, registered
from harness.store.runs import _HasConnection

__all__ = ["GateQueries", "GATE_RESULT_COLUMNS"]

GATE_RESULT_COLUMNS = (
    "check_name", "segment_key", "segment_value", "metric", "statistic", "kind", "severity", "status",
    "estimate", "ci_low", "ci_high", "threshold", "margin", "noise_band", "n", "p_value", "p_adjusted",
    "mde", "n_needed", "source", "sentence", "details",
)  # fmt: skip

_ARMS = ("prod", "prod_repeat", "candidate")
_RESPONSE_METRICS = ("cost_usd", "latency_ms", "error", "tool_calls")
# (column, scorer, arm_a, arm_b)
_SCORE_COLUMNS = (
    *((f"judge_quality__{a}", "judge_quality", a, "") for a in _ARMS),
    *((f"simref__{a}", "similarity", a, "reference") for a in _ARMS),
    *((f"similarity__{a}", "similarity", a, "prod") for a in ("candidate", "prod_repeat")),
    *((f"judge_pairwise__{a}", "judge_pairwise", a, "prod") for a in ("candidate", "prod_repeat")),
    *((f"tool_set_changed__{a}", "tool_set_changed", a, "prod") for a in ("candidate", "prod_repeat")),
)  # fmt: skip


class GateQueries:
    """Mixin of Store: what the gates read and write."""

    def gate_inputs(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """One row per request: each arm's mean cost, latency, error share and tool calls over its
        samples, the scores the gates use, and the ids and metadata for clusters and segments."""
        response_cols = ",\n".join(
            f"max({m}) FILTER (WHERE arm = '{a}') AS {m}__{a}" for m in _RESPONSE_METRICS for a in _ARMS
        )
        score_cols = ",\n".join(
            f"max(value) FILTER (WHERE scorer = '{s}' AND arm_a = '{a}' AND arm_b = '{b}') AS {c}"
            for c, s, a, b in _SCORE_COLUMNS
        )
        return self._frame(
            f"""
            WITH per_arm AS (
                SELECT request_id, arm, avg(cost_usd) AS cost_usd, avg(latency_ms) AS latency_ms,
                       avg(CASE WHEN error_type IS NULL THEN 0.0 ELSE 1.0 END) AS error,
                       avg(n_tool_calls) AS tool_calls
                FROM responses WHERE run_id = $run AND error_type IS DISTINCT FROM 'cancelled'
                GROUP BY ALL
            ),
            responses_wide AS (SELECT request_id, {response_cols} FROM per_arm GROUP BY request_id),
            scores_wide AS (SELECT request_id, {score_cols} FROM scores WHERE run_id = $run GROUP BY request_id)
            SELECT q.request_id, q.user_id, q.session_id, q.metadata, w.* EXCLUDE (request_id),
                   s.* EXCLUDE (request_id)
            FROM requests q
            JOIN runs r ON r.run_id = $run AND r.dataset = q.dataset
            JOIN responses_wide w ON w.request_id = q.request_id
            LEFT JOIN scores_wide s ON s.request_id = q.request_id
            ORDER BY q.seq
            """,
            {"run": run_id},
        )

    def save_gate_results(self: _HasConnection, run_id: str, results: pl.DataFrame, verdict: str,
                          reasons: list[str], settings: dict[str, Any]) -> None:
        """Replace a run's gate results and verdict, in one transaction."""
        columns = ", ".join(f'"{c}"' for c in GATE_RESULT_COLUMNS)
        with self._connection(write=True) as con, registered(con, "_gates", results.select(GATE_RESULT_COLUMNS)):
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM gate_results WHERE run_id = ?", [run_id])
            con.execute(f"INSERT INTO gate_results (run_id, {columns}, created_at) SELECT ?, {columns}, now()"
                        " FROM _gates", [run_id])
            con.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, now())",
                        [run_id, verdict, json.dumps(reasons), json.dumps(settings)])
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
            row = one(con, "SELECT verdict, reasons, settings, created_at FROM verdicts WHERE run_id = ?", [run_id])
        if row is None:
            return None
        return {"verdict": row[0], "reasons": json.loads(row[1]), "settings": json.loads(row[2] or "null"),
                "created_at": row[3]}

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
