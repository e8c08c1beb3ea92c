"""`harness ingest-states`: JSON Lines, Parquet and database queries into immutable state sets,
with the quarantine rules of ingest (file, line, reason)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from harness.errors import DatasetExistsError, IngestError
from harness.migration import ingest_states
from harness.store import Store
from tests.conftest import write_jsonl

STATES = [{"key": f"user-{i}", "state": {"lang": "de" if i % 2 else "en", "history": ["hi", "bye"][: i % 3]},
           "updated_at": f"2026-11-{10 + i:02d}T08:00:00Z"} for i in range(6)]  # fmt: skip


def snapshots(store: Store, name: str) -> list[tuple[str, dict, str | None]]:
    frame = store.states(name)
    return [(k, json.loads(s), None if t is None else t.isoformat()) for k, s, t in
            zip(frame["key"], frame["state"], frame["updated_at"], strict=True)]


def test_jsonl_rows_are_loaded_and_bad_ones_set_aside_with_file_line_and_reason(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "states.jsonl", [
        *STATES[:3],
        "{broken",
        {"key": "user-x"},
        {"key": "", "state": {}},
        {"key": ["a"], "state": {}},
        {"key": "user-y", "state": [1, 2]},
        {"key": "user-z", "state": "not json at all"},
        {"key": "user-t", "state": {}, "updated_at": "yesterday"},
        '{"key": "user-n", "state": {"x": NaN}}',
        "",
        *STATES[3:],
        {"key": 42, "state": '{"as": "text"}', "updated_at": 1_763_000_000_000},
    ])  # fmt: skip
    summary = ingest_states(store, [path], "prod", schema_version="v1", progress=False)
    assert summary.n_states == 7 and summary.n_quarantined == 8
    reasons = {m.line: m.reason for m in summary.quarantined}
    assert reasons[4].startswith("invalid JSON")
    assert reasons[5] == "missing state"
    assert reasons[6] == "missing key"
    assert reasons[7] == "key must be a string or a number"
    assert reasons[8] == "state must be a JSON object, not an array"
    assert reasons[9].startswith("state is text that is not JSON")
    assert reasons[10] == "updated_at is neither ISO 8601 nor epoch seconds/milliseconds"
    assert "NaN" in reasons[11]
    assert set(store.state_quarantine("prod")["line"]) == set(reasons)
    rows = snapshots(store, "prod")
    assert [k for k, _, _ in rows] == [s["key"] for s in STATES] + ["42"]
    assert rows[0][1] == STATES[0]["state"] and rows[0][2] == "2026-11-10T08:00:00+00:00"
    assert rows[-1][1] == {"as": "text"} and rows[-1][2].startswith("2025-11-13")  # epoch milliseconds
    meta = store.state_set("prod")
    assert meta["schema_version"] == "v1" and meta["n_states"] == 7 and meta["format"] == "jsonl"


def test_a_state_set_is_immutable_strict_leaves_nothing_and_duplicates_are_named(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", STATES)
    ingest_states(store, [path], "s", schema_version="v1", progress=False)
    assert ingest_states(store, [path], "s", schema_version="v1", progress=False).unchanged
    with pytest.raises(DatasetExistsError):
        ingest_states(store, [path], "s", schema_version="v2", progress=False)  # same bytes, other version
    other = write_jsonl(tmp_path / "b.jsonl", STATES[:2])
    assert ingest_states(store, [other], "s", schema_version="v1", replace=True, progress=False).replaced
    assert store.state_set("s")["n_states"] == 2
    bad = write_jsonl(tmp_path / "bad.jsonl", [*STATES, "{oops"])
    with pytest.raises(IngestError, match=r"strict: 1 malformed.*bad.jsonl:7"):
        ingest_states(store, [bad], "strict", schema_version="v1", strict=True, progress=False)
    assert store.state_sets().filter(pl.col("name") == "strict").is_empty()
    twice = write_jsonl(tmp_path / "twice.jsonl", [*STATES, STATES[1]])
    with pytest.raises(IngestError, match=r"duplicate key.*'user-1' at .*twice.jsonl:2, .*twice.jsonl:7"):
        ingest_states(store, [twice], "twice", schema_version="v1", progress=False)
    assert store.states("twice").is_empty()


def test_parquet_sqlite_and_duckdb_sources_give_the_same_snapshots(store: Store, tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "s.jsonl", STATES)
    ingest_states(store, [jsonl], "from-jsonl", schema_version="v1", progress=False)
    expected = snapshots(store, "from-jsonl")
    # Parquet with the state as a struct
    pl.DataFrame(STATES).with_columns(pl.col("updated_at").str.to_datetime(time_zone="UTC")).write_parquet(
        tmp_path / "s.parquet")
    ingest_states(store, [tmp_path / "s.parquet"], "from-parquet", schema_version="v1", progress=False)
    as_struct = snapshots(store, "from-parquet")
    # polars gives every struct the union of the fields; absent ones come back as null
    assert [(k, t) for k, _, t in as_struct] == [(k, t) for k, _, t in expected]
    assert [s["lang"] for _, s, _ in as_struct] == [s["lang"] for _, s, _ in expected]
    # SQLite: the state as JSON text, selected with a query
    sqlite = tmp_path / "app.sqlite"
    with sqlite3.connect(sqlite) as con:
        con.execute("CREATE TABLE user_state (user_id TEXT, blob TEXT, changed TEXT)")
        con.executemany("INSERT INTO user_state VALUES (?, ?, ?)",
                        [(s["key"], json.dumps(s["state"]), s["updated_at"]) for s in STATES])
    con.close()
    query = "SELECT user_id AS key, blob AS state, changed AS updated_at FROM user_state ORDER BY user_id"
    ingest_states(store, [sqlite], "from-sqlite", schema_version="v1", query=query, progress=False)
    assert snapshots(store, "from-sqlite") == expected
    # DuckDB: the state as a JSON column
    other = Store(tmp_path / "app.duckdb")
    other.sql("CREATE TABLE user_state AS SELECT * FROM (VALUES " + ", ".join(
        f"('{s['key']}', '{json.dumps(s['state'])}'::JSON, TIMESTAMPTZ '{s['updated_at']}')" for s in STATES)
        + ") t(user_id, state, updated_at)")
    ingest_states(store, [tmp_path / "app.duckdb"], "from-duckdb", schema_version="v1",
                  query="SELECT user_id AS key, state, updated_at FROM user_state ORDER BY user_id", progress=False)
    assert snapshots(store, "from-duckdb") == expected
    with pytest.raises(IngestError, match="give `query`"):
        ingest_states(store, [sqlite], "no-query", schema_version="v1", progress=False)
    with pytest.raises(IngestError, match="no 'key' column"):
        ingest_states(store, [sqlite], "bad-query", schema_version="v1", query="SELECT blob FROM user_state",
                      progress=False)
    with pytest.raises(IngestError, match="the query failed"):
        ingest_states(store, [sqlite], "bad-sql", schema_version="v1", query="SELECT nope FROM", progress=False)


def test_a_state_over_the_size_limit_is_read_past_not_held(store: Store, tmp_path: Path) -> None:
    big = {"key": "user-big", "state": {"history": ["x" * 1000] * 300}}  # ~300 KB on one line
    path = write_jsonl(tmp_path / "s.jsonl", [STATES[0], big, STATES[1]])
    summary = ingest_states(store, [path], "s", schema_version="v1", max_state_bytes=100_000, progress=False)
    assert summary.n_states == 2
    (bad,) = summary.quarantined
    assert bad.line == 2 and "over the" in bad.reason and bad.raw is None and bad.raw_bytes > 300_000
    # under the limit it is an ordinary (large) state
    summary = ingest_states(store, [path], "s2", schema_version="v1", progress=False)
    assert summary.n_states == 3 and summary.n_bytes > 300_000
