"""The schema, as numbered migrations recorded in `schema_migrations`.

Each migration runs once, in order, inside one transaction with its record. To change
the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

import duckdb

from harness.store.connection import one

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "current_version"]

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "replay core: datasets, requests, captured, quarantine, runs, responses",
        """
        CREATE TABLE datasets (
            name VARCHAR PRIMARY KEY,
            content_hash VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            sources JSON NOT NULL,
            n_requests BIGINT NOT NULL,
            n_captured BIGINT NOT NULL,
            n_quarantined BIGINT NOT NULL,
            redacted BOOLEAN NOT NULL DEFAULT false,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE requests (
            dataset VARCHAR NOT NULL,
            seq BIGINT NOT NULL,
            request_id VARCHAR NOT NULL,
            "timestamp" TIMESTAMPTZ,
            user_id VARCHAR,
            session_id VARCHAR,
            input JSON NOT NULL,
            input_text VARCHAR,
            metadata JSON,
            reference JSON,
            reference_output VARCHAR,
            reference_tool_calls JSON,
            source VARCHAR,
            line BIGINT
        );
        CREATE TABLE captured (
            dataset VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL,
            variant VARCHAR NOT NULL,
            output VARCHAR,
            model VARCHAR,
            tool_calls JSON,
            n_tool_calls INTEGER,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cached_input_tokens BIGINT,
            cost_usd DOUBLE,
            latency_ms DOUBLE,
            error_type VARCHAR,
            error_message VARCHAR
        );
        CREATE TABLE quarantine (
            dataset VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            line BIGINT,
            reason VARCHAR NOT NULL,
            raw VARCHAR,
            raw_bytes BIGINT,
            ingested_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            dataset VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            profile VARCHAR,
            config JSON,
            plan JSON,
            plan_digest VARCHAR,
            harness_version VARCHAR,
            n_planned BIGINT,
            message VARCHAR,
            owner VARCHAR,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ,
            finished_at TIMESTAMPTZ
        );
        CREATE TABLE responses (
            run_id VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL,
            arm VARCHAR NOT NULL,
            sample INTEGER NOT NULL,
            output VARCHAR,
            tool_calls JSON,
            n_tool_calls INTEGER,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cached_input_tokens BIGINT,
            cost_usd DOUBLE,
            latency_ms DOUBLE,
            model VARCHAR,
            error_type VARCHAR,
            error_message VARCHAR,
            attempts INTEGER NOT NULL,
            started_at TIMESTAMPTZ,
            finished_at TIMESTAMPTZ,
            PRIMARY KEY (run_id, request_id, arm, sample)
        );
        """,
    ),
    (
        2,
        "scoring: embedding cache, scores, judge cache, judgments, judge diagnostics, scoring runs",
        """
        CREATE TABLE embeddings (
            model VARCHAR NOT NULL,
            text_hash VARCHAR NOT NULL,
            dim INTEGER NOT NULL,
            vector FLOAT[] NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (model, text_hash)
        );
        CREATE TABLE scores (
            run_id VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL,
            scorer VARCHAR NOT NULL,
            arm_a VARCHAR NOT NULL,
            arm_b VARCHAR NOT NULL,
            value DOUBLE,
            details JSON,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (run_id, request_id, scorer, arm_a, arm_b)
        );
        CREATE TABLE judge_cache (
            cache_key VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            judge_model VARCHAR NOT NULL,
            template_version VARCHAR NOT NULL,
            verdict VARCHAR,
            score DOUBLE,
            rationale VARCHAR,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cost_usd DOUBLE,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE judgments (
            run_id VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            arm_a VARCHAR NOT NULL,
            arm_b VARCHAR NOT NULL,
            sample INTEGER NOT NULL,
            "order" VARCHAR NOT NULL,
            verdict VARCHAR,
            score DOUBLE,
            rationale VARCHAR,
            judge_model VARCHAR NOT NULL,
            template_version VARCHAR NOT NULL,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cost_usd DOUBLE,
            cached BOOLEAN NOT NULL,
            error_type VARCHAR,
            error_message VARCHAR,
            cache_key VARCHAR,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (run_id, request_id, kind, arm_a, arm_b, sample, "order")
        );
        CREATE TABLE judge_diagnostics (
            run_id VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            value DOUBLE,
            n BIGINT,
            details JSON,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (run_id, metric)
        );
        CREATE TABLE scoring_runs (
            run_id VARCHAR PRIMARY KEY,
            settings JSON NOT NULL,
            summary JSON,
            updated_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        3,
        "gates: gate_results and verdicts",
        """
        CREATE TABLE gate_results (
            run_id VARCHAR NOT NULL,
            check_name VARCHAR NOT NULL,
            segment_key VARCHAR NOT NULL,
            segment_value VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            statistic VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            severity VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            estimate DOUBLE,
            ci_low DOUBLE,
            ci_high DOUBLE,
            threshold DOUBLE,
            margin DOUBLE,
            noise_band DOUBLE,
            n BIGINT,
            p_value DOUBLE,
            p_adjusted DOUBLE,
            mde DOUBLE,
            n_needed BIGINT,
            source VARCHAR,
            sentence VARCHAR NOT NULL,
            details JSON,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (run_id, check_name, segment_key, segment_value)
        );
        CREATE TABLE verdicts (
            run_id VARCHAR PRIMARY KEY,
            verdict VARCHAR NOT NULL,
            reasons JSON NOT NULL,
            settings JSON,
            created_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        4,
        "datasets: how a dataset was redacted",
        "ALTER TABLE datasets ADD COLUMN redaction JSON;",
    ),
    (
        5,
        "actions: the tool classes a run was scored with, findings with the verdict",
        """
        CREATE TABLE tool_classes (
            run_id VARCHAR NOT NULL,
            tool VARCHAR NOT NULL,
            class VARCHAR NOT NULL,
            rule VARCHAR NOT NULL,
            PRIMARY KEY (run_id, tool)
        );
        ALTER TABLE verdicts ADD COLUMN findings JSON;
        """,
    ),
    (
        6,
        "responses: the harness's own cancellations apart from agents' errors, numbers not believed",
        """
        ALTER TABLE responses ADD COLUMN harness_cancelled BOOLEAN NOT NULL DEFAULT false;
        UPDATE responses SET harness_cancelled = true WHERE error_type = 'cancelled';
        ALTER TABLE responses ADD COLUMN invalid_values JSON;
        """,
    ),
    (
        7,
        "state migrations: state sets, snapshots, quarantine, migration checks and their results",
        """
        CREATE TABLE state_sets (
            name VARCHAR PRIMARY KEY,
            schema_version VARCHAR NOT NULL,
            content_hash VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            sources JSON NOT NULL,
            n_states BIGINT NOT NULL,
            n_quarantined BIGINT NOT NULL,
            n_bytes BIGINT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE state_snapshots (
            state_set VARCHAR NOT NULL,
            seq BIGINT NOT NULL,
            key VARCHAR NOT NULL,
            state JSON NOT NULL,
            updated_at TIMESTAMPTZ,
            n_bytes BIGINT NOT NULL,
            source VARCHAR,
            line BIGINT
        );
        CREATE TABLE state_quarantine (
            state_set VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            line BIGINT,
            reason VARCHAR NOT NULL,
            raw VARCHAR,
            raw_bytes BIGINT,
            ingested_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE migration_checks (
            check_id VARCHAR PRIMARY KEY,
            state_set VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            scope VARCHAR NOT NULL,
            settings JSON NOT NULL,
            settings_digest VARCHAR NOT NULL,
            n_planned BIGINT NOT NULL,
            message VARCHAR,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ,
            finished_at TIMESTAMPTZ
        );
        CREATE TABLE migration_results (
            check_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            seq BIGINT NOT NULL,
            cohort DOUBLE,
            outcome VARCHAR NOT NULL,
            error_kind VARCHAR,
            error_path VARCHAR,
            error_message VARCHAR,
            migrated JSON,
            n_bytes_out BIGINT,
            elapsed_ms DOUBLE,
            checked_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (check_id, key)
        );
        CREATE TABLE migration_field_changes (
            check_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            change VARCHAR NOT NULL,
            from_type VARCHAR,
            to_type VARCHAR
        );
        """,
    ),
    (
        8,
        "judgments: which texts were cut to scoring.max_text_chars before the judge saw them",
        "ALTER TABLE judgments ADD COLUMN truncated VARCHAR;",
    ),
    (
        9,
        "looks of sequential replays and live canaries; what `watch` has read: byte offsets and records",
        """
        CREATE TABLE looks (
            scope VARCHAR NOT NULL,
            look INTEGER NOT NULL,
            kind VARCHAR NOT NULL,
            n_requests BIGINT NOT NULL,
            n_units BIGINT,
            spend_usd DOUBLE,
            decision VARCHAR NOT NULL,
            verdict VARCHAR,
            reason VARCHAR,
            checks JSON NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, look)
        );
        CREATE TABLE watch_files (
            watch VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            file_id VARCHAR,
            "offset" BIGINT NOT NULL,
            head VARCHAR,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (watch, path)
        );
        CREATE TABLE watch_records (
            watch VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL,
            arm VARCHAR NOT NULL,
            seq BIGINT NOT NULL,
            user_id VARCHAR,
            "timestamp" TIMESTAMPTZ,
            error DOUBLE NOT NULL,
            latency_ms DOUBLE,
            cost_usd DOUBLE,
            tool_calls DOUBLE,
            source VARCHAR,
            PRIMARY KEY (watch, request_id, arm)
        );
        """,
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest applied migration, 0 for an empty file."""
    exists = one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'")
    if not exists or not exists[0]:
        return 0
    row = one(con, "SELECT coalesce(max(version), 0) FROM schema_migrations")
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every missing migration; returns the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    have = current_version(con)
    applied = []
    for version, name, sql in MIGRATIONS:
        if version <= have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
