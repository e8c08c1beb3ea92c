"""SQL for migration checks: the check's row, per-state results, field changes, and the
aggregations `show-migration`, the release report and the `migration_error_rate` gate read."""

from __future__ import annotations

import json
from typing import Any

from harness.errors import NotFoundError
from harness.store._polars import pl
from harness.store.connection import one, registered
from harness.store.runs import _HasConnection

__all__ = ["CHANGE_COLUMNS", "OUTCOMES", "RESULT_COLUMNS", "MigrationQueries"]

OUTCOMES = ("ok", "transform_error", "invalid", "invariant_broken", "changed_on_reapply")
RESULT_COLUMNS = ("key", "seq", "cohort", "outcome", "error_kind", "error_path", "error_message", "migrated",
                  "n_bytes_out", "elapsed_ms")  # fmt: skip
CHANGE_COLUMNS = ("key", "path", "change", "from_type", "to_type")


class MigrationQueries:
    """Mixin of Store: migration checks and their results."""

    # ---- the check ------------------------------------------------------------------------

    def migration_checks(self: _HasConnection) -> pl.DataFrame:
        """Every check, newest first, with how many states were checked and how many were not ok."""
        return self._frame(
            """
            SELECT c.check_id, c.state_set, c.status, c.scope, c.n_planned, count(r.key) AS n_checked,
                   count(r.key) FILTER (WHERE r.outcome <> 'ok') AS n_not_ok, c.created_at, c.finished_at
            FROM migration_checks c LEFT JOIN migration_results r USING (check_id)
            GROUP BY ALL ORDER BY c.created_at DESC
            """
        )

    def migration_check(self: _HasConnection, check_id: str) -> dict[str, Any]:
        """One check's row with `settings` as a dict and `n_checked`; NotFoundError when unknown."""
        rows = self._frame(
            "SELECT c.*, (SELECT count(*) FROM migration_results r WHERE r.check_id = c.check_id) AS n_checked"
            " FROM migration_checks c WHERE check_id = ?", [check_id]).to_dicts()
        if not rows:
            raise NotFoundError(f"no migration check {check_id!r} (run `harness migrate-check` first)")
        row = rows[0]
        row["settings"] = json.loads(row["settings"])
        return row

    def create_migration_check(self: _HasConnection, check_id: str, state_set: str, scope: str,
                               settings: dict[str, Any], digest: str, n_planned: int, *, replace: bool) -> None:
        """Record a new check (with replace: after forgetting an old one of that id and its results)."""
        with self._connection(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            if replace:
                for table in ("migration_field_changes", "migration_results", "migration_checks"):
                    con.execute(f"DELETE FROM {table} WHERE check_id = ?", [check_id])
            con.execute("INSERT INTO migration_checks VALUES (?, ?, 'running', ?, ?, ?, ?, NULL, now(), now(), NULL)",
                        [check_id, state_set, scope, json.dumps(settings), digest, n_planned])
            con.execute("COMMIT")

    def update_migration_check(self: _HasConnection, check_id: str, status: str, message: str | None = None) -> None:
        finished = ", finished_at = now()" if status == "completed" else ""
        with self._connection(write=True) as con:
            con.execute(f"UPDATE migration_checks SET status = ?, message = ?, updated_at = now(){finished}"
                        " WHERE check_id = ?", [status, message, check_id])

    def checked_keys(self: _HasConnection, check_id: str) -> pl.Series:
        """Keys that already have a result (a resume skips them)."""
        return self._frame("SELECT key FROM migration_results WHERE check_id = ?", [check_id])["key"]

    def save_migration_results(self: _HasConnection, check_id: str, results: pl.DataFrame,
                               changes: pl.DataFrame) -> None:
        """Insert a batch of per-state results and their field changes, in one transaction."""
        columns = ", ".join(RESULT_COLUMNS)
        with (self._connection(write=True) as con, registered(con, "_results", results.select(RESULT_COLUMNS)),
              registered(con, "_changes", changes.select(CHANGE_COLUMNS))):
            con.execute("BEGIN TRANSACTION")
            con.execute(f"INSERT INTO migration_results ({columns}, check_id, checked_at)"
                        f" SELECT {columns}, ?, now() FROM _results", [check_id])
            con.execute(f"INSERT INTO migration_field_changes SELECT ?, {', '.join(CHANGE_COLUMNS)} FROM _changes",
                        [check_id])
            con.execute("UPDATE migration_checks SET updated_at = now() WHERE check_id = ?", [check_id])
            con.execute("COMMIT")

    # ---- reading the results -------------------------------------------------------------

    def migration_results(self: _HasConnection, check_id: str) -> pl.DataFrame:
        """One row per checked state (without the migrated state itself), in ingest order."""
        return self._frame("SELECT * EXCLUDE (check_id, migrated) FROM migration_results WHERE check_id = ?"
                           " ORDER BY seq", [check_id])

    def migration_outcomes(self: _HasConnection, check_id: str) -> dict[str, int]:
        """States per outcome (every outcome named, zeros included)."""
        with self._connection() as con:
            rows = con.execute("SELECT outcome, count(*) FROM migration_results WHERE check_id = ? GROUP BY 1",
                               [check_id]).fetchall()
        counts = dict.fromkeys(OUTCOMES, 0)
        counts.update({outcome: int(n) for outcome, n in rows})
        return counts

    def migration_cohorts(self: _HasConnection, check_id: str) -> pl.DataFrame:
        """Per canary step (cumulative: a step holds the users of the smaller ones), states and
        states not ok."""
        return self._frame(
            """
            WITH steps AS (SELECT DISTINCT cohort FROM migration_results WHERE check_id = $c AND cohort IS NOT NULL)
            SELECT s.cohort AS percent, count(*) AS n, count(*) FILTER (WHERE r.outcome <> 'ok') AS n_not_ok
            FROM steps s JOIN migration_results r ON r.check_id = $c AND r.cohort <= s.cohort
            GROUP BY 1 ORDER BY 1
            """, {"c": check_id})  # type: ignore[arg-type]

    def migration_error_kinds(self: _HasConnection, check_id: str, limit: int = 10,
                              examples: int = 3) -> pl.DataFrame:
        """The most frequent (outcome, error kind, path) among states not ok, with a few examples each."""
        return self._frame(
            """
            SELECT outcome, error_kind, error_path, count(*) AS n,
                   list({'key': key, 'message': error_message} ORDER BY seq)[1:$examples] AS examples
            FROM migration_results WHERE check_id = $c AND outcome <> 'ok'
            GROUP BY ALL ORDER BY n DESC, outcome, error_kind, error_path LIMIT $limit
            """, {"c": check_id, "limit": limit, "examples": examples})  # type: ignore[arg-type]

    def migration_field_stats(self: _HasConnection, check_id: str, limit: int = 25) -> pl.DataFrame:
        """Per field path and change (added, dropped, type_changed, became_null): states and their share
        of the states the transform migrated, with the most common type change."""
        return self._frame(
            """
            WITH migrated AS (SELECT count(*) AS n FROM migration_results
                              WHERE check_id = $c AND migrated IS NOT NULL),
            per_path AS (
                SELECT path, change, count(DISTINCT key) AS n_states,
                       mode(from_type || ' -> ' || to_type) AS common_change
                FROM migration_field_changes WHERE check_id = $c GROUP BY ALL
            )
            SELECT path, change, n_states, n_states / nullif(m.n, 0) AS share,
                   CASE WHEN change = 'type_changed' THEN common_change END AS types
            FROM per_path, migrated m ORDER BY n_states DESC, path, change LIMIT $limit
            """, {"c": check_id, "limit": limit})  # type: ignore[arg-type]

    def migrated_state_texts(self: _HasConnection, check_id: str, keys: list[str],
                             only_ok: bool = True) -> dict[str, str]:
        """Migrated states (JSON text) of some keys; with only_ok, only those whose outcome is ok."""
        ok = " AND outcome = 'ok'" if only_ok else ""
        with self._connection() as con:
            if one(con, "SELECT 1 FROM migration_checks WHERE check_id = ?", [check_id]) is None:
                raise NotFoundError(f"no migration check {check_id!r}")
            rows = con.execute(
                "SELECT key, migrated::VARCHAR FROM migration_results WHERE check_id = ?"
                f" AND key IN (SELECT unnest(?::VARCHAR[])) AND migrated IS NOT NULL{ok}",
                [check_id, keys]).fetchall()
        return dict(rows)
