"""SQL for scoring: the embedding cache, scores, judgments, the judge cache and diagnostics."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from harness.store._polars import pl
from harness.store.connection import frame, one, registered
from harness.store.runs import _HasConnection

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ScoreQueries", "SCORE_COLUMNS", "JUDGMENT_COLUMNS", "JUDGE_CACHE_COLUMNS"]

SCORE_COLUMNS = ("run_id", "request_id", "scorer", "arm_a", "arm_b", "value", "details")
JUDGMENT_COLUMNS = (
    "run_id", "request_id", "kind", "arm_a", "arm_b", "sample", "order", "verdict", "score", "rationale",
    "judge_model", "template_version", "input_tokens", "output_tokens", "cost_usd", "cached", "error_type",
    "error_message", "cache_key", "truncated",
)  # fmt: skip
JUDGE_CACHE_COLUMNS = (
    "cache_key", "kind", "judge_model", "template_version", "verdict", "score", "rationale",
    "input_tokens", "output_tokens", "cost_usd",
)  # fmt: skip


def _quoted(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


class ScoreQueries:
    """Mixin of Store: what scoring reads and writes."""

    # ---- inputs ---------------------------------------------------------------------------

    def scoring_responses(self: _HasConnection, run_id: str, max_chars: int | None = None) -> pl.DataFrame:
        """request_id, arm, sample, output, tool_calls, error_type, harness_cancelled of every response of a run.

        With `max_chars`, each output is read up to that many characters only (a huge answer stays on disk).
        """
        return self._frame(
            "SELECT request_id, arm, sample, left(output, coalesce(?, length(output))) AS output, tool_calls,"
            " error_type, harness_cancelled FROM responses WHERE run_id = ? ORDER BY request_id, arm, sample",
            [max_chars, run_id],
        )

    def scoring_requests(self: _HasConnection, run_id: str, reference_variant: str | None,
                         max_chars: int | None = None) -> pl.DataFrame:
        """The run's requests with their references; the captured variant's tool calls stand in
        for reference tool calls where the request has none of its own. With `max_chars`, the input
        text and reference output are read up to that many characters only."""
        return self._frame(
            """
            SELECT q.request_id, left(q.input_text, coalesce(?, length(q.input_text))) AS input_text, q.metadata,
                   left(q.reference_output, coalesce(?, length(q.reference_output))) AS reference_output,
                   coalesce(q.reference_tool_calls, c.tool_calls) AS reference_tool_calls,
                   CASE WHEN q.reference_tool_calls IS NOT NULL THEN 'reference'
                        WHEN c.tool_calls IS NOT NULL THEN 'captured:' || c.variant END AS reference_source
            FROM requests q JOIN runs r ON r.dataset = q.dataset AND r.run_id = ?
            LEFT JOIN captured c ON c.dataset = q.dataset AND c.request_id = q.request_id AND c.variant = ?
                                  AND c.error_type IS NULL
            WHERE q.request_id IN (SELECT DISTINCT request_id FROM responses WHERE run_id = ?)
            ORDER BY q.request_id
            """,
            [max_chars, max_chars, run_id, reference_variant, run_id],
        )

    def score_keys(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """(request_id, scorer, arm_a, arm_b) of the scores a run already has."""
        return self._frame("SELECT request_id, scorer, arm_a, arm_b FROM scores WHERE run_id = ?", [run_id])

    # ---- embeddings -----------------------------------------------------------------------

    def known_embeddings(self: _HasConnection, model: str, hashes: list[str]) -> tuple[list[str], np.ndarray]:
        """The cached vectors among `hashes`: (their hashes, a float32 matrix, one row each)."""
        with self._connection() as con:
            found = frame(
                con,
                "SELECT text_hash, vector FROM embeddings WHERE model = ?"
                " AND text_hash IN (SELECT unnest(?::VARCHAR[]))",
                [model, hashes],
            )
        import numpy as np  # only where vectors are (numpy is slow to import; most commands never need it)

        if found.is_empty():
            return [], np.zeros((0, 0), dtype=np.float32)
        dim = len(found["vector"][0])
        matrix = found["vector"].list.to_array(dim).to_numpy().astype(np.float32, copy=False)
        return found["text_hash"].to_list(), matrix

    def save_embeddings(self: _HasConnection, model: str, hashes: list[str], vectors: np.ndarray) -> None:
        """Cache vectors by (model, text hash); a known one is left as it is."""
        import numpy as np

        batch = pl.DataFrame({"text_hash": hashes, "vector": vectors.astype(np.float32)}).with_columns(
            pl.col("vector").arr.to_list()
        )
        with self._connection(write=True) as con:
            with registered(con, "_vectors", batch):
                con.execute(
                    "INSERT OR IGNORE INTO embeddings SELECT ?, text_hash, ?, vector, now() FROM _vectors",
                    [model, int(vectors.shape[1])],
                )

    # ---- scores ---------------------------------------------------------------------------

    def save_scores(self: _HasConnection, run_id: str, scores: pl.DataFrame, *, replace_scorers: list[str] | None = None) -> None:
        """Insert score rows (request_id, scorer, arm_a, arm_b, value, details); with
        replace_scorers, the run's earlier rows of those scorers go first, in the same transaction."""
        batch = scores.select(pl.lit(run_id).alias("run_id"), "request_id", "scorer", "arm_a", "arm_b",
                              pl.col("value").cast(pl.Float64), pl.col("details").cast(pl.String))
        with self._connection(write=True) as con:
            with registered(con, "_scores", batch):
                con.execute("BEGIN TRANSACTION")
                if replace_scorers:
                    con.execute("DELETE FROM scores WHERE run_id = ? AND scorer IN (SELECT unnest(?::VARCHAR[]))",
                                [run_id, replace_scorers])
                con.execute(f"INSERT OR REPLACE INTO scores ({_quoted(SCORE_COLUMNS)}, created_at)"
                            f" SELECT {_quoted(SCORE_COLUMNS)}, now() FROM _scores")
                con.execute("COMMIT")

    def scores(self: _HasConnection, run_id: str, scorer: str | None = None) -> pl.DataFrame:
        """A run's scores: one row per request, scorer and pair of arms (arm_b '' for one-arm scores)."""
        query = "SELECT * EXCLUDE (run_id) FROM scores WHERE run_id = ?"
        params: list[Any] = [run_id]
        if scorer is not None:
            query += " AND scorer = ?"
            params.append(scorer)
        return self._frame(query + " ORDER BY request_id, scorer, arm_a, arm_b", params)

    def score_means(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """Mean value and count per scorer and pair of arms."""
        return self._frame(
            "SELECT scorer, arm_a, arm_b, avg(value) AS mean, count(value) AS n FROM scores WHERE run_id = ?"
            " GROUP BY ALL ORDER BY scorer, arm_a, arm_b",
            [run_id],
        )

    def tool_behaviour_by_tool(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """Per tool: how often each arm added or dropped it compared with prod. A change that
        prod_repeat also shows is prod's own noise."""
        return self._frame(
            """
            WITH changes AS (
                SELECT arm_a, unnest(from_json(details->'added', '["VARCHAR"]')) AS tool, 'added' AS change
                FROM scores WHERE run_id = ? AND scorer = 'tool_set_changed'
                UNION ALL
                SELECT arm_a, unnest(from_json(details->'removed', '["VARCHAR"]')), 'removed'
                FROM scores WHERE run_id = ? AND scorer = 'tool_set_changed'
            )
            SELECT tool,
                   count(*) FILTER (WHERE arm_a = 'candidate' AND change = 'added') AS candidate_added,
                   count(*) FILTER (WHERE arm_a = 'candidate' AND change = 'removed') AS candidate_removed,
                   count(*) FILTER (WHERE arm_a = 'prod_repeat' AND change = 'added') AS prod_repeat_added,
                   count(*) FILTER (WHERE arm_a = 'prod_repeat' AND change = 'removed') AS prod_repeat_removed
            FROM changes GROUP BY tool ORDER BY candidate_added + candidate_removed DESC, tool
            """,
            [run_id, run_id],
        )

    def tool_counts(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """Calls per tool and arm."""
        return self._frame(
            """
            SELECT arm, tool, count(*) AS calls, count(DISTINCT request_id) AS requests FROM (
                SELECT arm, request_id, unnest(from_json(tool_calls, '["JSON"]'))->>'name' AS tool
                FROM responses WHERE run_id = ? AND tool_calls IS NOT NULL
            ) GROUP BY ALL ORDER BY arm, calls DESC
            """,
            [run_id],
        )

    # ---- judge ----------------------------------------------------------------------------

    def judge_cache_lookup(self: _HasConnection, keys: list[str]) -> dict[str, dict[str, Any]]:
        with self._connection() as con:
            rows = frame(con, "SELECT * EXCLUDE (created_at) FROM judge_cache"
                              " WHERE cache_key IN (SELECT unnest(?::VARCHAR[]))", [keys])
        return {row["cache_key"]: row for row in rows.to_dicts()}

    def save_judge_cache(self: _HasConnection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        batch = pl.DataFrame(rows).select(
            pl.col(c).cast(pl.Float64) if c in ("score", "cost_usd")
            else pl.col(c).cast(pl.Int64) if c in ("input_tokens", "output_tokens")
            else pl.col(c).cast(pl.String)
            for c in JUDGE_CACHE_COLUMNS
        )
        with self._connection(write=True) as con:
            with registered(con, "_cache", batch):
                con.execute(f"INSERT OR IGNORE INTO judge_cache ({_quoted(JUDGE_CACHE_COLUMNS)}, created_at)"
                            f" SELECT {_quoted(JUDGE_CACHE_COLUMNS)}, now() FROM _cache")

    def save_judgments(self: _HasConnection, run_id: str, rows: list[dict[str, Any]]) -> None:
        """Insert or replace judgment rows (a failed judgment is replaced when it is redone)."""
        if not rows:
            return
        types = {"sample": pl.Int32, "score": pl.Float64, "input_tokens": pl.Int64, "output_tokens": pl.Int64,
                 "cost_usd": pl.Float64, "cached": pl.Boolean}
        batch = pl.DataFrame([{**row, "run_id": run_id} for row in rows], infer_schema_length=None).select(
            pl.col(c).cast(types.get(c, pl.String)) for c in JUDGMENT_COLUMNS
        )
        with self._connection(write=True) as con:
            with registered(con, "_judgments", batch):
                con.execute(f"INSERT OR REPLACE INTO judgments ({_quoted(JUDGMENT_COLUMNS)}, created_at)"
                            f" SELECT {_quoted(JUDGMENT_COLUMNS)}, now() FROM _judgments")

    def judgments(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """Every judge call of a run, cached ones included, with verdict, score, rationale and cost."""
        return self._frame(
            'SELECT * EXCLUDE (run_id) FROM judgments WHERE run_id = ? ORDER BY request_id, kind, arm_a, arm_b,'
            ' sample, "order"',
            [run_id],
        )

    def save_judge_diagnostics(self: _HasConnection, run_id: str, diagnostics: pl.DataFrame) -> None:
        batch = diagnostics.select("metric", pl.col("value").cast(pl.Float64), pl.col("n").cast(pl.Int64),
                                   pl.col("details").cast(pl.String))
        with self._connection(write=True) as con:
            with registered(con, "_diag", batch):
                con.execute("BEGIN TRANSACTION")
                con.execute("DELETE FROM judge_diagnostics WHERE run_id = ?", [run_id])
                con.execute("INSERT INTO judge_diagnostics SELECT ?, metric, value, n, details, now() FROM _diag",
                            [run_id])
                con.execute("COMMIT")

    def judge_diagnostics(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """The judge's health for a run: swap consistency, tie rate, prod vs prod_repeat, human agreement."""
        return self._frame(
            "SELECT metric, value, n, details FROM judge_diagnostics WHERE run_id = ? ORDER BY metric", [run_id]
        )

    # ---- scoring sessions -----------------------------------------------------------------

    def save_scoring_run(self: _HasConnection, run_id: str, settings: dict[str, Any], summary: dict[str, Any]) -> None:
        with self._connection(write=True) as con:
            con.execute(
                "INSERT OR REPLACE INTO scoring_runs VALUES (?, ?, ?, now())",
                [run_id, json.dumps(settings), json.dumps(summary, default=str)],
            )

    def scoring_run(self: _HasConnection, run_id: str) -> dict[str, Any] | None:
        """How a run was last scored (settings and summary), or None if it never was."""
        with self._connection() as con:
            row = one(con, "SELECT settings, summary, updated_at FROM scoring_runs WHERE run_id = ?", [run_id])
        if row is None:
            return None
        return {"settings": json.loads(row[0]), "summary": json.loads(row[1]) if row[1] else {}, "updated_at": row[2]}
