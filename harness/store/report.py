"""SQL for the report: every aggregation is done here, in DuckDB, never in Python loops over rows."""

from __future__ import annotations

from harness.store._polars import pl
from harness.store.connection import ARM_ORDER
from harness.store.runs import _HasConnection

__all__ = ["ReportQueries"]


class ReportQueries:
    """Mixin of Store: histograms, top regressions and examples for the release report."""

    def latency_histogram(self: _HasConnection, run_id: str, bins_per_decade: int = 10) -> pl.DataFrame:
        """Successful responses per arm and log10-spaced latency bin (bin = lower edge in ms); errors are
        what the error figures count, and a fast failure is not a fast answer."""
        return self._frame(
            f"""
            SELECT arm, pow(10, floor(log10(greatest(latency_ms, 1)) * $b) / $b) AS bin, count(*) AS n
            FROM responses WHERE run_id = $run AND latency_ms IS NOT NULL AND error_type IS NULL
            GROUP BY 1, 2 ORDER BY {ARM_ORDER}, bin
            """,
            {"run": run_id, "b": bins_per_decade},
        )

    def cost_histogram(self: _HasConnection, run_id: str, bins_per_decade: int = 10) -> pl.DataFrame:
        """Successful responses per arm and log10-spaced cost bin (bin = lower edge in USD); costs span decades,
        so a linear axis would crush the cheap arm into one bar. A cost of 0 (unknown) is left out."""
        return self._frame(
            f"""
            SELECT arm, pow(10, floor(log10(cost_usd) * $b) / $b) AS bin, count(*) AS n
            FROM responses WHERE run_id = $run AND cost_usd > 0 AND isfinite(cost_usd) AND error_type IS NULL
            GROUP BY 1, 2 ORDER BY {ARM_ORDER}, bin
            """,
            {"run": run_id, "b": bins_per_decade},
        )

    def similarity_histogram(self: _HasConnection, run_id: str, width: float = 0.025) -> pl.DataFrame:
        """Requests per similarity bin: candidate vs prod and the noise floor, prod_repeat vs prod."""
        return self._frame(
            """
            SELECT arm_a AS arm, floor(greatest(value, 0) / $w) * $w AS bin, count(*) AS n
            FROM scores WHERE run_id = $run AND scorer = 'similarity' AND arm_b = 'prod' AND arm_a <> 'prod'
            GROUP BY 1, 2 ORDER BY arm, bin
            """,
            {"run": run_id, "w": width},
        )

    def top_regressions(self: _HasConnection, run_id: str, limit: int = 15, cap: int = 20_000) -> pl.DataFrame:
        """The requests where the candidate looks worst against prod, with every signal; input and
        metadata at most `cap` characters (full lengths beside them)."""
        return self._frame(
            """
            WITH s AS (
                SELECT request_id,
                    max(value) FILTER (WHERE scorer = 'similarity' AND arm_a = 'candidate' AND arm_b = 'prod') AS sim_candidate,
                    max(value) FILTER (WHERE scorer = 'similarity' AND arm_a = 'prod_repeat' AND arm_b = 'prod') AS sim_repeat,
                    max(value) FILTER (WHERE scorer = 'judge_pairwise' AND arm_a = 'candidate') AS pairwise,
                    max(value) FILTER (WHERE scorer = 'judge_quality' AND arm_a = 'candidate') AS quality_candidate,
                    max(value) FILTER (WHERE scorer = 'judge_quality' AND arm_a = 'prod') AS quality_prod,
                    max(value) FILTER (WHERE scorer = 'tool_set_changed' AND arm_a = 'candidate') AS tools_changed,
                    max(value) FILTER (WHERE scorer = 'tool_set_changed' AND arm_a = 'prod_repeat') AS tools_changed_repeat
                FROM scores WHERE run_id = $run GROUP BY request_id
            ),
            e AS (
                SELECT request_id,
                    bool_or(error_type IS NOT NULL) FILTER (WHERE arm = 'candidate') AS candidate_error,
                    bool_or(error_type IS NOT NULL) FILTER (WHERE arm = 'prod') AS prod_error
                FROM responses WHERE run_id = $run GROUP BY request_id
            ),
            ranked AS (
                SELECT e.request_id, s.* EXCLUDE (request_id), e.candidate_error, e.prod_error,
                    2.0 * (coalesce(e.candidate_error, false) AND NOT coalesce(e.prod_error, false))::INT
                    + (coalesce(s.pairwise, 0) < 0)::INT
                    + 2.0 * greatest(coalesce(s.sim_repeat - s.sim_candidate, 0), 0)
                    + greatest(coalesce(s.quality_prod - s.quality_candidate, 0), 0)
                    + 0.5 * (coalesce(s.tools_changed, 0) > coalesce(s.tools_changed_repeat, 0))::INT AS badness
                FROM e LEFT JOIN s USING (request_id)
            )
            SELECT r.*, left(q.input_text, $cap) AS input_text, length(q.input_text) AS input_chars,
                   left(q.metadata, $cap) AS metadata, length(q.metadata) AS metadata_chars
            FROM ranked r JOIN runs u ON u.run_id = $run
            JOIN requests q ON q.dataset = u.dataset AND q.request_id = r.request_id
            WHERE r.badness > 0 ORDER BY r.badness DESC, r.request_id LIMIT $limit
            """,
            {"run": run_id, "limit": limit, "cap": cap},
        )

    def responses_for(self: _HasConnection, run_id: str, request_ids: list[str], cap: int = 20_000) -> pl.DataFrame:
        """The first sample of every arm for some requests, with the candidate's judge rationale;
        text fields at most `cap` characters, with their full length beside them."""
        return self._frame(
            f"""
            SELECT x.request_id, x.arm, left(x.output, $cap) AS output, length(x.output) AS output_chars,
                   left(x.tool_calls, $cap) AS tool_calls, length(x.tool_calls) AS tool_calls_chars,
                   x.error_type, left(x.error_message, $cap) AS error_message, x.latency_ms,
                   x.cost_usd, left(j.rationale, $cap) AS rationale
            FROM responses x
            LEFT JOIN (SELECT request_id, arm_a, any_value(rationale) AS rationale FROM judgments
                       WHERE run_id = $run AND kind = 'pointwise' AND sample = 0 AND error_type IS NULL
                       GROUP BY ALL) j ON j.request_id = x.request_id AND j.arm_a = x.arm
            WHERE x.run_id = $run AND x.sample = 0 AND x.request_id IN (SELECT unnest($ids::VARCHAR[]))
            ORDER BY x.request_id, {ARM_ORDER.replace('arm', 'x.arm')}
            """,
            {"run": run_id, "ids": request_ids, "cap": cap},
        )

    def error_examples(self: _HasConnection, run_id: str, per_type: int = 3) -> pl.DataFrame:
        """Errors per arm and type with their count and a few example messages and requests."""
        return self._frame(
            f"""
            SELECT arm, error_type, count(*) AS n,
                   list(error_message ORDER BY request_id)[1:$k] AS examples,
                   list(request_id ORDER BY request_id)[1:$k] AS request_ids
            FROM responses WHERE run_id = $run AND error_type IS NOT NULL
            GROUP BY 1, 2 ORDER BY {ARM_ORDER}, n DESC
            """,
            {"run": run_id, "k": per_type},
        )

    def models_by_arm(self: _HasConnection, run_id: str) -> pl.DataFrame:
        """The models each arm's answers named, with how many answers named each (the report's what-changed)."""
        return self._frame(
            f"""
            SELECT arm, coalesce(model, '(not reported)') AS model, count(*) AS n
            FROM responses WHERE run_id = ? AND NOT harness_cancelled
            GROUP BY arm, 2 ORDER BY {ARM_ORDER}, n DESC
            """,
            [run_id],
        )
