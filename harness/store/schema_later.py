"""Migrations 4 and later: what each feature added to the schema. Append new ones at the end."""

LATER: list[tuple[int, str, str]] = [
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
        "datasets: a completion marker, so an ingest in progress or killed is never visible",
        "ALTER TABLE datasets ADD COLUMN status VARCHAR DEFAULT 'complete';",
    ),
    (
        10,
        "tool_events: every tool call that went through the replay's sandbox",
        """
        CREATE TABLE tool_events (
            run_id VARCHAR NOT NULL, request_id VARCHAR NOT NULL, arm VARCHAR NOT NULL, sample INTEGER NOT NULL,
            attempt INTEGER NOT NULL, step INTEGER NOT NULL, tool VARCHAR NOT NULL, tool_class VARCHAR NOT NULL,
            policy VARCHAR NOT NULL, "match" VARCHAR NOT NULL, arguments VARCHAR, arguments_digest VARCHAR,
            result VARCHAR, result_digest VARCHAR, blocked BOOLEAN NOT NULL, live_allowed BOOLEAN, error VARCHAR,
            latency_ms DOUBLE, created_at TIMESTAMPTZ,
            PRIMARY KEY (run_id, request_id, arm, sample, attempt, step)
        );
        """,
    ),
    (
        11,
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
