"""Langfuse traces as JSON Lines converted in SQL store exactly what the Python converter stores:
the same requests, captured rows and quarantine, row for row, whichever lines the SQL leaves to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import harness.capture.values
import harness.ingest_converted
from harness.capture.langfuse import LangfuseReader
from harness.ingest_converted import sql_converter
from harness.store import Store
from tests.converted_paths import both_ways as ingested_both_ways
from tests.converted_paths import converted_in_sql

FIXTURES = Path(__file__).parent / "fixtures" / "langfuse"
BASE = {"projectId": "p1", "timestamp": "2026-11-16T11:02:10.500Z"}
CHAT = {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Where is 12?"}]}
PARTS = [{"type": "text", "text": "Yes, "}, {"type": "text", "text": "it ships."}]

SHAPES: list[dict[str, Any]] = [  # each becomes one trace; SQL converts some, Python the others
    {"input": "plain question", "output": "plain answer", "latency": 0.912, "totalCost": 0.0021},
    {"input": CHAT, "output": {"content": PARTS}, "metadata": {"intent": "x", "n": None}, "tags": ["prod"],
     "name": "agent", "release": "v1", "version": 3, "userId": "u-1", "sessionId": "s-1"},
    {"input": CHAT["messages"], "output": PARTS, "tags": [], "name": "", "latency": 2, "totalCost": 1},
    {"input": {"messages": CHAT["messages"], "other": 1}, "output": {"output": "from output key"}},
    {"input": "  {\"messages\": [{\"role\": \"user\", \"content\": \"encoded\"}]}", "output": "\"quoted\""},
    {"input": {"query": "q in an object"}, "output": {"answer": {"nested": True}}},
    {"input": {"args": ["one string arg"], "kwargs": {}}, "output": [{"role": "assistant", "content": "chat"}]},
    {"input": [{"type": "human", "content": "langchain"}], "output": {"messages": [{"role": "ai", "content": "m"}]}},
    {"input": "ids as numbers", "id": 1093, "userId": 42, "sessionId": 7.0},
    {"input": "a float id", "id": 5.0},
    {"input": "a bool id", "id": True},
    {"input": "a blank id", "id": "  "},
    {"input": "an object id", "id": {"a": 1}},
    {"input": "epoch time", "timestamp": 1763290930},
    {"input": "naive time", "timestamp": "2026-11-16T11:02:10"},
    {"input": "offset time", "timestamp": "2026-11-16T12:02:10.123456+01:00"},
    {"input": "bad time", "timestamp": "2026-02-30T00:00:00Z"},
    {"input": "no input key here"} | {"input": None},
    {"input": "metadata as text", "metadata": "just text"},
    {"input": "metadata as JSON text", "metadata": "{\"k\": 1}"},
    {"input": "metadata with a name", "metadata": {"name": "mine"}, "name": "trace"},
    {"input": "object extra", "version": {"major": 1, "x": None}},
    {"input": "cost as text", "totalCost": "0.5", "latency": "1.25"},
    {"input": "cost as bool", "totalCost": True, "latency": False},
    {"input": "an exact half to round to even", "latency": 4.6465625, "totalCost": 12345678901234567890},
    {"input": "parts with a role", "output": [{"type": "text", "text": "a", "role": None}]},
    {"input": "parts with a number", "output": [{"type": "text", "text": 5}]},
    {"input": "empty parts", "output": []},
    {"input": "observation ids", "observations": ["o-1", "o-2"]},
    {"input": "embedded observation", "observations": [{"id": "o-1", "type": "GENERATION", "model": "m",
                                                          "startTime": "2026-11-16T11:02:10Z", "output": "gen"}]},
    {"input": "unicode: café ☕ \u2028 end", "output": "naïve ✓", "metadata": {"emoji": "😀"}},
    {"input": "", "output": ""},
    {"input": "nested too deeply in a key the SQL does not read", "scores": "<deep>"},
    {"input": "chat with a null role", "output": "o"} | {"input": {"messages": [{"role": None, "content": "x"}]}},
]
EXTRA_LINES = [
    json.dumps({"data": [dict(BASE, id="env-1", input="in an envelope"), dict(BASE, id="env-2", input="two")]}),
    json.dumps({"trace": dict(BASE, id="wrapped", input="in a download"), "observations": []}),
    json.dumps({"name": "neither a trace nor an observation"}),
    json.dumps(dict(BASE, id="no-trace-key", input="x") | {"projectId": None}),
]


def traces_file(path: Path) -> Path:
    lines = [json.dumps(dict(BASE, id=f"t-{i}") | shape).replace('"<deep>"', "[" * 1200 + "]" * 1200)
             for i, shape in enumerate(SHAPES)] + EXTRA_LINES
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def both_ways(store: Store, paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    return ingested_both_ways(store, paths, "langfuse", monkeypatch)


def test_the_fixture_traces_are_stored_alike(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    counts = converted_in_sql(monkeypatch)
    fast, slow = both_ways(store, [FIXTURES / "traces.jsonl"], monkeypatch)
    assert fast == slow
    assert len(fast["requests"]) == 1 and len(fast["quarantine"]) == 2  # no input; a truncated line
    assert counts == []  # a block DuckDB refuses (the truncated line) goes to Python whole


def test_every_shape_is_stored_as_the_python_converter_stores_it(store: Store, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    counts = converted_in_sql(monkeypatch)
    fast, slow = both_ways(store, [traces_file(tmp_path / "shapes.jsonl")], monkeypatch)
    assert fast == slow
    assert sum(counts) >= 10  # the SQL did convert the plain shapes
    assert len(fast["requests"]) + len(fast["quarantine"]) == len(SHAPES) + len(EXTRA_LINES) + 1  # an envelope of two


@pytest.mark.parametrize(("block_rows", "batch_rows"), [("3", 5000), ("7", 5000), ("7", 4), ("3", 5)])
def test_small_blocks_number_rows_as_one_pass_does(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   block_rows: str, batch_rows: int) -> None:
    """Blocks (committed together) and the Python reader's batches (numbered records first) cut the
    files in different places: the numbers are the same."""
    monkeypatch.setenv("HARNESS_INGEST_BLOCK_ROWS", block_rows)
    monkeypatch.setattr(harness.capture.values, "BATCH_ROWS", batch_rows)
    monkeypatch.setattr(harness.ingest_converted, "BATCH_ROWS", batch_rows)
    first, second = traces_file(tmp_path / "a.jsonl"), tmp_path / "b.jsonl"
    second.write_text("".join(json.dumps(dict(BASE, id=f"b-{i}", input=f"q {i}")) + "\n" for i in range(9)))
    fast, slow = both_ways(store, [first, second], monkeypatch)
    assert fast == slow
    # rows come back in seq order: that order is the files' own (first file first, line by line)
    places = [(str(first), str(second)).index(r["source"]) * 1000 + r["line"] for r in fast["requests"]]
    assert places == sorted(places) and len(set(places)) > 9  # (a line may hold an envelope of two)


def test_blank_and_broken_lines_go_to_python_with_their_numbers(store: Store, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "broken.jsonl"
    good = [json.dumps(dict(BASE, id=f"g-{i}", input="q")) for i in range(4)]
    path.write_text("\n".join([good[0], "", good[1], "  ", good[2], '{"id": "cut', good[3], "[1, 2]"]) + "\n")
    fast, slow = both_ways(store, [path], monkeypatch)
    assert fast == slow
    assert [r["line"] for r in fast["requests"]] == [1, 3, 5, 7]


def test_files_with_observations_take_the_python_reader(tmp_path: Path) -> None:
    reader = LangfuseReader()
    assert sql_converter(reader, [FIXTURES / "traces.jsonl", FIXTURES / "observations.jsonl"]) is None
    assert sql_converter(reader, [FIXTURES / "traces_export.json"]) is None
    assert sql_converter(reader, [traces_file(tmp_path / "t.jsonl")]) is not None
    reader.variant_from = "release"
    assert sql_converter(reader, [traces_file(tmp_path / "t.jsonl")]) is None
