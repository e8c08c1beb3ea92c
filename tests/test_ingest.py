"""Ingest: every format, malformed lines set aside with file and line, duplicates, strict, immutability."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from harness.errors import DatasetExistsError, IngestError
from harness.ingest import ingest
from harness.store import Store
from tests.conftest import simple_records, write_jsonl

CANONICAL = {
    "request_id": "r-1",
    "timestamp": "2026-11-20T10:15:00Z",
    "user_id": "u-42",
    "session_id": "s-9",
    "input": "Where is my order 1234?",
    "metadata": {"intent": "order_status", "tier": "pro", "flags": {"agent-write-files": True}},
    "reference": "It shipped yesterday.",
    "captured": {
        "variant": "prod", "output": "Your order 1234 shipped.", "model": "gpt-4.1",
        "tool_calls": [{"name": "lookup_order", "arguments": {"id": "1234"}, "result": {"status": "shipped"}}],
        "usage": {"input_tokens": 812, "output_tokens": 95, "cached_input_tokens": 0},
        "cost_usd": 0.0021, "latency_ms": 1840, "error": None,
    },
}  # fmt: skip


def test_canonical_record_lands_in_requests_and_captured(store: Store, tmp_path: Path) -> None:
    messages = {"request_id": "r-2", "input": {"messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"}, {"role": "user", "content": "refund order 77"}]},
        "reference": {"output": "Refunded.", "tool_calls": [{"name": "issue_refund", "arguments": {"id": 77}}]},
        "captured": [{"variant": "prod", "output": "done"},
                     {"variant": "canary", "output": None, "error": {"type": "timeout", "message": "slow"}}]}
    log = write_jsonl(tmp_path / "log.jsonl", [CANONICAL, messages])
    summary = ingest(store, [log], "d", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (2, 3, 0)

    requests = store.requests("d")
    first = requests.row(0, named=True)
    assert first["request_id"] == "r-1" and first["user_id"] == "u-42" and first["line"] == 1
    assert first["input_text"] == "Where is my order 1234?"
    assert json.loads(first["metadata"])["flags"]["agent-write-files"] is True
    assert first["reference_output"] == "It shipped yesterday."
    assert first["timestamp"].isoformat().startswith("2026-11-20T10:15:00")
    second = requests.row(1, named=True)
    assert second["input_text"] == "refund order 77"
    assert json.loads(second["input"])["messages"][0]["role"] == "system"
    assert json.loads(second["reference_tool_calls"])[0]["name"] == "issue_refund"

    captured = store.captured("d")
    prod = captured.filter(pl.col("request_id") == "r-1").row(0, named=True)
    assert prod["variant"] == "prod" and prod["model"] == "gpt-4.1" and prod["n_tool_calls"] == 1
    assert (prod["input_tokens"], prod["output_tokens"], prod["cost_usd"], prod["latency_ms"]) == (812, 95, 0.0021, 1840)
    assert prod["error_type"] is None
    canary = store.captured("d", variant="canary").row(0, named=True)
    assert (canary["error_type"], canary["error_message"], canary["output"]) == ("timeout", "slow", None)


def test_malformed_lines_are_quarantined_with_file_line_and_reason(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "mixed.jsonl", [
        {"request_id": "a", "input": "fine"},
        '{"request_id": "b", "input": "trunc',
        {"request_id": "c", "input": "x", "metadata": "not an object"},
        "",
        {"input": "no id here"},
        {"request_id": "d"},
        "[1, 2, 3]",
        {"request_id": "e", "input": "bad time", "timestamp": "yesterday-ish"},
        {"request_id": "f", "input": "fine too"},
    ])  # fmt: skip
    summary = ingest(store, [log], "mixed", progress=False)
    assert summary.n_requests == 2
    assert store.requests("mixed")["request_id"].to_list() == ["a", "f"]
    q = store.quarantine("mixed")
    assert q["line"].to_list() == [2, 3, 5, 6, 7, 8]
    assert set(q["source"].to_list()) == {str(log)}
    reasons = dict(zip(q["line"].to_list(), q["reason"].to_list(), strict=True))
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "metadata must be a JSON object"
    assert reasons[5] == "missing request_id"
    assert reasons[6] == "missing input"
    assert reasons[7].startswith("not a JSON object")
    assert reasons[8].startswith("timestamp")
    assert '"trunc' in q.filter(pl.col("line") == 2)["raw"][0]


def test_strict_fails_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "bad.jsonl", [{"request_id": "a", "input": "x"}, "{oops"])
    with pytest.raises(IngestError, match=r"bad.jsonl:2"):
        ingest(store, [log], "strict", strict=True, progress=False)
    assert store.datasets().height == 0
    assert store.sql("SELECT count(*) AS n FROM requests")["n"][0] == 0
    assert store.sql("SELECT count(*) AS n FROM quarantine")["n"][0] == 0


def test_a_log_with_no_valid_line_says_why_each_line_was_set_aside(store: Store, tmp_path: Path) -> None:
    # Nothing is published, so `harness quarantine` has nothing to show: the reasons are in the error.
    log = write_jsonl(tmp_path / "allbad.jsonl", ["{oops", {"request_id": "a"}])
    with pytest.raises(IngestError, match=r"no valid request .*2 malformed: (?=.*allbad.jsonl:1: invalid JSON)(?=.*allbad.jsonl:2: missing input)"):
        ingest(store, [log], "allbad", fmt="jsonl", progress=False)
    assert store.datasets().height == 0


def test_duplicate_request_ids_are_an_error_naming_them(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "dup.jsonl", [
        {"request_id": "x1", "input": "a"}, {"request_id": "x2", "input": "b"}, {"request_id": "x1", "input": "c"}])
    with pytest.raises(IngestError, match=r"'x1' at lines 1, 3"):
        ingest(store, [log], "dup", progress=False)
    assert store.datasets().height == 0


def test_an_id_repeated_on_every_line_names_its_first_places_and_counts_the_rest(store: Store, tmp_path: Path) -> None:
    """A log whose every line reuses one id must not give an error as long as the log."""
    log = write_jsonl(tmp_path / "same.jsonl", [{"request_id": "same", "input": str(i)} for i in range(25)])
    with pytest.raises(IngestError) as failure:
        ingest(store, [log], "same", progress=False)
    assert str(failure.value).endswith("'same' at lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 15 more")


def test_dataset_is_immutable_unless_replaced(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "a.jsonl", simple_records(5))
    assert ingest(store, [log], "d", progress=False).n_requests == 5
    assert ingest(store, [log], "d", progress=False).unchanged
    other = write_jsonl(tmp_path / "b.jsonl", simple_records(3, prefix="z"))
    with pytest.raises(DatasetExistsError, match="already exists with different content; datasets are immutable"):
        ingest(store, [other], "d", progress=False)
    summary = ingest(store, [other], "d", replace=True, progress=False)
    assert summary.replaced and summary.n_requests == 3
    assert store.requests("d")["request_id"].to_list() == ["z0", "z1", "z2"]


def test_csv_with_nested_fields_as_json_strings(store: Store, tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "request_id": ["c1", "c2", "c3"],
        "input": ["hello", '{"messages": [{"role": "user", "content": "hi there"}]}', None],
        "user_id": ["u1", "u2", "u3"],
        "metadata": ['{"intent": "refund_request"}', None, None],
        "captured": ['{"variant": "prod", "output": "yo", "cost_usd": 0.5}', None, None],
    })  # fmt: skip
    path = tmp_path / "log.csv"
    frame.write_csv(path)
    summary = ingest(store, [path], "csv", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (2, 1, 1)
    requests = store.requests("csv")
    assert requests["input_text"].to_list() == ["hello", "hi there"]
    assert json.loads(requests["metadata"][0]) == {"intent": "refund_request"}
    assert store.quarantine("csv").row(0, named=True)["reason"] == "missing input"
    assert store.captured("csv")["cost_usd"].to_list() == [0.5]


def test_csv_ragged_rows_are_quarantined(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("request_id,input\nr1,hello\nr2,one,extra\nr3,bye\n", encoding="utf-8")
    summary = ingest(store, [path], "ragged", progress=False)
    assert summary.n_requests == 2
    bad = store.quarantine("ragged").row(0, named=True)
    assert bad["line"] == 3 and "3 fields" in bad["reason"]


def test_parquet_with_typed_nested_columns(store: Store, tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "request_id": ["p1", "p2"],
        "input": ["what is up", "refund please"],
        "metadata": [{"intent": "a", "tier": "pro"}, {"intent": "b", "tier": "free"}],
        "captured": [{"variant": "prod", "output": "fine", "latency_ms": 120.0},
                     {"variant": "prod", "output": "ok", "latency_ms": 80.0}],
    })  # fmt: skip
    path = tmp_path / "log.parquet"
    frame.write_parquet(path)
    summary = ingest(store, [path], "pq", progress=False)
    assert (summary.n_requests, summary.n_captured) == (2, 2)
    assert json.loads(store.requests("pq")["metadata"][1]) == {"intent": "b", "tier": "free"}
    assert store.captured("pq")["latency_ms"].to_list() == [120.0, 80.0]


def test_gzip_bom_crlf_and_blank_lines(store: Store, tmp_path: Path) -> None:
    text = "\ufeff" + "\r\n".join(json.dumps(r) for r in simple_records(4)) + "\r\n\r\n"
    path = tmp_path / "log.data"  # no telling extension
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    summary = ingest(store, [path], "gz", progress=False)
    assert summary.n_requests == 4 and summary.n_quarantined == 0
    assert store.requests("gz")["line"].to_list() == [1, 2, 3, 4]


def test_many_files_and_blocks_keep_order_and_lines(store: Store, tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", simple_records(300, prefix="a"))
    b = write_jsonl(tmp_path / "b.jsonl", [*simple_records(200, prefix="b"), "not json", {"request_id": "b-last", "input": "x"}])
    summary = ingest(store, [a, b], "many", progress=False)
    assert summary.n_requests == 501 and summary.n_quarantined == 1
    requests = store.requests("many")
    assert requests["request_id"][0] == "a0" and requests["request_id"][-1] == "b-last"
    assert requests.filter(pl.col("request_id") == "b-last")["line"][0] == 202
    assert store.quarantine("many").row(0, named=True)["line"] == 201


def test_unknown_content_and_empty_file(store: Store, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(IngestError, match="empty"):
        ingest(store, [empty], "e", progress=False)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(IngestError, match=r"name it \(`fmt`\)"):
        ingest(store, [junk], "j", progress=False)
    with pytest.raises(IngestError, match="no such file"):
        ingest(store, [tmp_path / "missing.jsonl"], "m", progress=False)


def test_nested_values_round_trip_exactly(store: Store, tmp_path: Path) -> None:
    """Regression: polars writes nested JSON back with backslashes, tabs, control characters and
    quotes in keys unescaped; such lines must keep their exact values (not be lost or changed)."""
    tricky = {
        "path": "C:\\Users\\jane\\report.txt", "regex": "\\d+\\.\\d*", "tab": "a\tb", "bell": "x\x07y",
        'he said "hi"': "key with quotes", "ctl\x01key": 1, "line\nbreak": "ok", "emoji": "😀 \u2028",
    }
    records = [{"request_id": "t1", "input": {"messages": [{"role": "user", "content": "path C:\\tmp\\x"}]},
                "metadata": tricky, "reference": {"output": "tab\there", "tool_calls": []},
                "captured": {"variant": "prod", "output": "ok",
                             "tool_calls": [{"name": "open", "arguments": {"file": "C:\\a\\b", "k\"q": 1}}]}},
               {"request_id": "t2", "input": "plain", "metadata": {"fine": "value"}}]
    summary = ingest(store, [write_jsonl(tmp_path / "tricky.jsonl", records)], "tricky", progress=False)
    assert summary.n_requests == 2 and summary.n_quarantined == 0
    first = store.requests("tricky").row(0, named=True)
    assert json.loads(first["metadata"]) == tricky
    assert json.loads(first["reference"]) == {"output": "tab\there", "tool_calls": []}
    assert first["input_text"] == "path C:\\tmp\\x"
    captured = store.captured("tricky").row(0, named=True)
    assert json.loads(captured["tool_calls"])[0]["arguments"] == {"file": "C:\\a\\b", "k\"q": 1}
