"""Migrations 1-3, the schema's first shape: replay, scoring and gates. Append-only history."""

FIRST: list[tuple[int, str, str]] = [
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
]
