"""OpenAI chat logs as JSON Lines converted in SQL store exactly what the Python converter stores:
the same requests, captured rows and quarantine, row for row, whichever lines the SQL leaves to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.capture.openai_chat import OpenAIChatReader
from harness.ingest_converted import sql_converter
from harness.store import Store
from tests.converted_paths import both_ways, converted_in_sql
from tests.test_reliability_inputs import BAD_LINES

FIXTURES = Path(__file__).parent / "fixtures" / "openai_chat"
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Where is 12?"}]
REQUEST = {"model": "gpt-4.1", "messages": MESSAGES}
DEEP = "<1,200 nested lists>"
"""Written as that many nested lists (which Python's json module can neither read nor write)."""


def completion(message: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A chat.completion whose one choice is `message` (a plain answer by default)."""
    message = {"role": "assistant", "content": "It ships."} if message is None else message
    return {"id": "chatcmpl-1", "created": 1794820323, "model": "gpt-4.1-2025", "choices": [{"message": message}]} | fields


def call(arguments: Any, name: Any = "lookup") -> dict[str, Any]:
    return {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}


SHAPES: list[dict[str, Any]] = [  # each becomes one entry (with an id unless it says otherwise)
    {"response": completion(), "latency_ms": 812, "cost_usd": 0.0021, "user_id": "u-1", "session_id": "s-1"},
    {"response": completion(usage={"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}})},
    {"response": completion(usage={"input_tokens": 10, "output_tokens": 2, "input_tokens_details": {"cached_tokens": 0}})},
    {"response": completion(usage={"prompt_tokens": 10.0, "completion_tokens": "2", "total_tokens": True})},
    {"response": completion(usage={"prompt_tokens": None, "input_tokens": 7, "prompt_tokens_details": "x"})},
    {"response": completion(usage="not an object")},
    {"metadata": {"intent": "x", "n": None}, "request": REQUEST | {"metadata": {"channel": "web"}, "user": "u-9"},
     "response": completion()},
    {"metadata": {"channel": "top"}, "request": REQUEST | {"metadata": {"channel": "web"}}, "response": completion()},
    {"metadata": "just text", "request": REQUEST | {"metadata": {}}, "response": completion()},
    {"metadata": {}, "response": completion()},
    {"response": completion({"role": "assistant", "content": None, "tool_calls": [
        call('{"order_id": "12"}'), call("  [1, 2.50, 1E2, 12345678901234567890123]"), call('{"cut": "da'),
        call("not json"), call(" \u00a0{}"), call({"already": "an object"}), call(None), call(7, name=None),
        {"type": "function"}, None, "a string call", call('{"a": NaN}'), call('{"a": 1,}'), call('{"big": 1e999}'),
        call('{"dup": 1, "dup": 2}'), call('["\\ud83d\\ude00"]'), call("[" * 600 + "]" * 600)]})},
    {"response": completion({"role": "assistant", "content": None, "tool_calls": []})},
    {"response": completion({"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}})},
    {"response": completion({"role": "assistant", "content": None, "function_call": "auto"})},
    {"response": completion({"role": "assistant", "content": "", "refusal": "I can't."})},
    {"response": completion({"role": "assistant", "content": None, "refusal": "I can't."})},
    {"response": completion({"role": "assistant", "content": "", "refusal": None})},
    {"response": completion({"role": "assistant", "content": None, "refusal": 5})},
    {"response": completion({"role": "assistant", "content": [{"type": "text", "text": "parts"}]})},
    {"response": completion({"role": "assistant", "content": 42})},
    {"response": completion(None) | {"choices": [None]}},
    {"response": completion(None) | {"choices": []}},
    {"response": completion(None) | {"choices": None}},
    {"response": completion(None) | {"choices": "none"}},
    {"response": completion(None) | {"choices": [{"message": None}]}},
    {"response": completion(None) | {"choices": [{"message": {"content": "a"}}, {"message": {"content": "b"}}]}},
    {"response": {"id": "chatcmpl-2", "object": "chat.completion"}},
    {"response": completion(model=None)},
    {"response": completion(model=5)},
    {"request": {"messages": MESSAGES}, "response": completion(model=None)},
    {"error": {"message": "Rate limit", "type": "tokens", "code": "rate_limit"}, "status_code": 429},
    {"error": {"message": "Bad request", "type": None, "code": "bad"}, "response": None},
    {"error": {"message": "No type"}, "status_code": 503},
    {"error": {"message": "No type, no status"}},
    {"error": {"message": {"nested": True}, "type": "x"}},
    {"error": {"message": "numeric code", "code": 500}},
    {"error": "plain text error", "status_code": 500, "latency_ms": 10},
    {"error": "", "response": completion()},
    {"error": False, "response": completion()},
    {"error": None, "status_code": 500, "response": completion()},
    {"status_code": 502, "response": {"error": {"message": "upstream", "type": "server"}}},
    {"status_code": 200, "response": completion()},
    {"status_code": "500", "response": completion()},
    {"status_code": -0, "response": completion()},
    {"error": {"message": "no request model"}, "request": {"messages": MESSAGES, "model": 3}},
    {"response": completion(), "request_id": 1042, "id": "ignored"},
    {"response": completion(), "request_id": 5.0},
    {"response": completion(), "request_id": 5.5},
    {"response": completion(), "request_id": True},
    {"response": completion(), "request_id": "  "},
    {"response": completion(), "request_id": {"a": 1}},
    {"response": completion(), "request_id": " [not json"},
    {"response": completion(), "user_id": 42, "session_id": 7},
    {"response": completion(), "user_id": 4.5, "session_id": [1]},
    {"response": completion(), "timestamp": "2026-11-16T10:30:00+01:00"},
    {"response": completion(), "timestamp": "2026-11-16T10:30:00"},
    {"response": completion(), "created_at": "2026-11-16 10:30:00.123456Z"},
    {"response": completion(), "timestamp": "2026-02-30T00:00:00Z"},
    {"response": completion(), "timestamp": "yesterday"},
    {"response": completion(), "timestamp": 1794820323},
    {"response": completion(), "timestamp": 1794820323123},
    {"response": completion(), "timestamp": 1794820323.5},
    {"response": completion(), "timestamp": None, "created_at": None},
    {"response": completion(), "duration_ms": 912.5},
    {"response": completion(), "duration": 1.25, "cost": 0},
    {"response": completion(), "duration": 1.0005, "cost": "0.5"},
    {"response": completion(), "duration": 2, "latency_ms": None},
    {"response": completion(), "latency_ms": True, "duration": 0.25},
    {"response": completion(), "latency_ms": "12", "cost_usd": True, "cost": 1},
    {"response": completion(), "latency_ms": 1e999, "cost_usd": 12345678901234567890},
    {"request": {"model": "m", "messages": []}, "response": completion()},
    {"request": {"model": "m", "prompt": "old style"}, "response": completion()},
    {"request": {"model": "m", "messages": "text"}, "response": completion()},
    {"request": {"model": "m", "messages": [{"role": "user", "content": "unicode: café ☕ \u2028 end"}]},
     "response": completion({"role": "assistant", "content": "naïve ✓ 😀"})},
    {"request": "a request that is text", "response": completion()},
    {"request": None, "response": completion()},
    {"response": completion(), "data": [{"request": REQUEST, "response": completion()}]},
    {"response": completion(), "data": "not a list"},
    {"response": completion(), "unread": DEEP},  # nested too deeply for Python's parser, in a key the SQL does not read
    {"response": completion({"role": "assistant", "content": None, "tool_calls": [call("[" * 600 + "]" * 600)]})},
]
EXTRA_LINES = [
    json.dumps({"data": [{"id": "env-1", "request": REQUEST, "response": completion()},
                         {"id": "env-2", "request": REQUEST, "error": "failed"}]}),
    json.dumps({"request_id": "r-1", "input": "a canonical record"}),
    json.dumps({"request": REQUEST}),
    "[1, 2]",
    '{"id": "cut", "request": {',
]


def entries_file(path: Path, shapes: list[dict[str, Any]], extra: list[str]) -> Path:
    lines = [json.dumps({"id": f"e-{i}", "request": REQUEST} | shape).replace(json.dumps(DEEP), "[" * 1200 + "]" * 1200)
             for i, shape in enumerate(shapes)] + extra
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["gateway.jsonl", "n_choices.jsonl"])
def test_the_fixture_entries_are_stored_alike(store: Store, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    converted_in_sql(monkeypatch)
    fast, slow = both_ways(store, [FIXTURES / name], "openai_chat", monkeypatch)
    assert fast == slow and fast["requests"]


def test_every_shape_is_stored_as_the_python_converter_stores_it(store: Store, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A block DuckDB refuses (a line that is not JSON, a request that is text) goes to Python
    whole, so each shape is also tried in a file of its own beside a plain entry."""
    counts = converted_in_sql(monkeypatch)
    path = entries_file(tmp_path / "shapes.jsonl", SHAPES, EXTRA_LINES)
    fast, slow = both_ways(store, [path], "openai_chat", monkeypatch)
    assert fast == slow
    assert len(fast["requests"]) + len(fast["quarantine"]) == len(SHAPES) + len(EXTRA_LINES) + 1  # an envelope of two
    for i, shape in enumerate(SHAPES):
        alone = both_ways(store, [entries_file(tmp_path / f"{i}.jsonl", [SHAPES[0], shape], [])], "openai_chat",
                          monkeypatch, f"-{i}")
        assert alone[0] == alone[1], shape
    assert counts.count(2) >= 30 and counts.count(1) >= 30  # the SQL converted the plain shapes, left the others


def test_the_malformed_corpus_is_quarantined_alike(store: Store, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line of the canonical reader's corpus, the lone surrogate included (the converting
    readers' parser accepts it; the batch sets its line aside, as text no store can encode)."""
    good = json.dumps({"id": "good", "request": REQUEST, "response": completion()}).encode()
    bad = [line for line, _ in BAD_LINES.values()]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join([good, *bad, b"", b"  ", good.replace(b"good", b"g2")]) + b"\n")
    fast, slow = both_ways(store, [path], "openai_chat", monkeypatch)
    assert fast == slow
    assert len(fast["requests"]) == 2 and len(fast["quarantine"]) == len(bad)


def test_groups_read_with_variants_take_the_python_reader(tmp_path: Path) -> None:
    reader = OpenAIChatReader()
    assert sql_converter(reader, [FIXTURES / "gateway.jsonl"]) is not None
    reader.variant_from = "model"
    assert sql_converter(reader, [FIXTURES / "gateway.jsonl"]) is None


def test_an_ingest_in_sql_never_imports_pandas(tmp_path: Path) -> None:
    """pyarrow's `pa.array` and `to_numpy` import pandas on first use (a fifth of a second); the
    bulk paths build and read their Arrow columns without them (canonical lines, then OpenAI chat)."""
    import subprocess
    import sys

    canonical = tmp_path / "log.jsonl"
    canonical.write_text("".join(json.dumps({"request_id": f"r{i}", "input": "hi"}) + "\n" for i in range(5)))
    code = ("import sys\nfrom harness.ingest import ingest\nfrom harness.store import Store\n"
            f"store = Store({str(tmp_path / 'h.duckdb')!r})\n"
            f"a = ingest(store, [{str(canonical)!r}], 'a', progress=False)\n"
            f"b = ingest(store, [{str(FIXTURES / 'gateway.jsonl')!r}], 'b', fmt='openai_chat', progress=False)\n"
            "print(a.n_requests, b.n_requests > 0, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["5", "True", "False"]


def test_arrow_columns_round_trip_through_numpy_buffers() -> None:
    import duckdb
    import numpy as np
    import pyarrow as pa

    from harness.store.connection import arrow_array, numpy_bools

    assert arrow_array(np.arange(6)[2:]).to_pylist() == [2, 3, 4, 5]
    assert arrow_array(np.array([True, False, True])).to_pylist() == [True, False, True]
    con = duckdb.connect()
    con.execute("SET arrow_lossless_conversion = true")  # bool as DuckDB's one-byte bool8, as the parser reads it
    column = con.sql("SELECT CASE WHEN i = 2 THEN NULL ELSE i % 3 = 0 END AS b FROM range(12) r(i)").to_arrow_table()["b"]
    expected = [i % 3 == 0 and i != 2 for i in range(12)]
    plain = pa.array([None if i == 2 else i % 3 == 0 for i in range(12)], type=pa.bool_())
    for values in (column, plain):
        assert numpy_bools(values).tolist() == expected
        assert numpy_bools(values.slice(1)).tolist() == expected[1:]  # an offset into the buffers
