"""LangSmith run exports: runs grouped into traces, one request per trace, through ingest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.capture import sniff
from harness.ingest import ingest
from harness.store import Store
from tests.converted_paths import copies_with_own_ids

FIXTURES = Path(__file__).parent / "fixtures"
RUNS = FIXTURES / "langsmith" / "runs.jsonl"
CANONICAL = Path(__file__).parent.parent / "datasets" / "sample_support.jsonl"
ORDER = "1ef5a3c0-0000-4a01-8000-00000000a001"
REFUND = "1ef5a3c0-0000-4a01-8000-00000000b001"
FAILED = "1ef5a3c0-0000-4a01-8000-00000000c001"
LONE_LLM = "1ef5a3c0-0000-4a01-8000-00000000d001"


def by_id(frame: Any) -> dict[str, dict[str, Any]]:
    return {row["request_id"]: row for row in frame.iter_rows(named=True)}


def test_sniffing_tells_langsmith_from_the_other_formats() -> None:
    assert sniff(RUNS) == "langsmith"
    assert sniff(CANONICAL) == "jsonl"
    others = [*FIXTURES.glob("openai_*/*"), *FIXTURES.glob("langfuse/*")]
    assert others and all(sniff(path) != "langsmith" for path in others)


def test_runs_become_one_request_per_trace(store: Store) -> None:
    summary = ingest(store, [RUNS], "ls", progress=False)
    assert store.dataset("ls")["format"] == "langsmith"
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (4, 4, 2)

    requests = store.requests("ls")
    assert requests["request_id"].to_list() == [ORDER, REFUND, FAILED, LONE_LLM]  # in the order of the root runs
    assert requests["line"].to_list() == [4, 5, 8, 10]
    rows = by_id(requests)
    order = rows[ORDER]  # LangChain-serialized messages; metadata thread_id is the session
    assert json.loads(order["input"]) == {"messages": [{"role": "user", "content": "Where is my order 869021?"}]}
    assert (order["user_id"], order["session_id"]) == ("u-0042", "s-9f1c")
    assert order["timestamp"].isoformat() == "2026-11-16T09:12:03.120000+00:00"  # no offset: UTC
    assert json.loads(order["metadata"]) == {"user_id": "u-0042", "thread_id": "s-9f1c", "intent": "order_status",
                                             "ls_run_depth": 0, "tags": ["prod", "support"]}
    refund = rows[REFUND]
    assert refund["input_text"] == "Can I get a refund for order 77? It arrived broken."
    assert (refund["user_id"], refund["session_id"]) == ("u-0107", "conv-77")
    failed = rows[FAILED]
    assert (failed["input_text"], failed["user_id"], failed["session_id"]) == ("Where's order 99?", "4242", "s-c0ffee")
    lone = rows[LONE_LLM]  # no trace_id: a root is its own trace; {"type": "human", "data": ...} messages
    assert json.loads(lone["input"]) == {"messages": [{"role": "user", "content": "Hi, do you ship to Norway?"}]}
    assert (lone["user_id"], lone["session_id"]) == (None, None)
    assert lone["timestamp"].isoformat() == "2026-11-16T11:02:10.500000+00:00"


def test_captured_from_the_runs_of_each_trace(store: Store) -> None:
    ingest(store, [RUNS], "ls", progress=False)
    captured = by_id(store.captured("ls"))

    order = captured[ORDER]  # output = the last message; usage from the two llm runs, not the root's totals
    assert order["output"] == "Order 869021 shipped on 14 November with DHL and should arrive in 2-3 business days."
    assert order["model"] == "gpt-4.1-2025-04-14"
    assert json.loads(order["tool_calls"]) == [{"name": "lookup_order", "arguments": {"order_id": "869021"},
                                                "result": {"status": "shipped", "carrier": "DHL"}}]
    assert (order["input_tokens"], order["output_tokens"], order["cached_input_tokens"]) == (1682, 59, 512)
    assert (order["cost_usd"], order["latency_ms"], order["error_type"]) == (0.00412, 2345.0, None)

    refund = captured[REFUND]  # the llm run states no tokens: missing, not 0; a root total_cost of 0 stays 0
    assert refund["output"].startswith("Done: a refund of 34.90 EUR")
    assert json.loads(refund["tool_calls"]) == [
        {"name": "issue_refund", "arguments": {"input": "77"}, "result": "Refund of 34.90 EUR issued for order 77"}]
    assert (refund["input_tokens"], refund["output_tokens"], refund["cached_input_tokens"]) == (None, None, None)
    assert (refund["cost_usd"], refund["model"], refund["latency_ms"]) == (0.0, "gpt-4.1-mini", 3500.0)

    failed = captured[FAILED]
    assert (failed["error_type"], failed["error_message"]) == ("ValueError", "Order 99 not found")
    assert failed["output"] is None
    assert json.loads(failed["tool_calls"]) == [{"name": "lookup_order", "arguments": {"order_id": "99"}}]
    assert (failed["cost_usd"], failed["model"], failed["input_tokens"]) == (None, None, None)
    assert failed["latency_ms"] == 500.0

    lone = captured[LONE_LLM]  # the root is the llm run: its generation, tokens and model
    assert lone["output"] == "Yes, we ship to Norway. Delivery takes 4-6 business days."
    assert (lone["model"], lone["input_tokens"], lone["output_tokens"]) == ("gpt-4.1-nano", 95, 22)
    assert lone["cost_usd"] is None
    assert (lone["tool_calls"], lone["latency_ms"]) == (None, 912.0)


def test_runs_that_make_no_request_are_quarantined(store: Store, tmp_path: Path) -> None:
    ingest(store, [RUNS], "ls", progress=False)
    quarantine = store.quarantine("ls")
    assert quarantine["line"].to_list() == [11, 12]
    reasons = quarantine["reason"].to_list()
    assert reasons[0] == (
        "trace 1ef5a3c0-0000-4a01-8000-00000000e001 has no root run (without parent_run_id) in the files")
    assert reasons[1].startswith("invalid JSON")
    assert ingest(store, [RUNS], "ls", progress=False).unchanged

    lone = RUNS.read_text(encoding="utf-8").splitlines()[9]
    repeated = tmp_path / "repeated.jsonl"
    repeated.write_text(f"{lone}\n{lone}\n", encoding="utf-8")
    summary = ingest(store, [repeated], "repeated", progress=False)
    assert (summary.n_requests, summary.n_quarantined) == (1, 1)
    bad = store.quarantine("repeated").row(0, named=True)
    assert bad["line"] == 2 and bad["reason"] == f"run {LONE_LLM} again (first at {repeated}:1)"


SDK_PY = Path(__file__).parent / "fixtures" / "langsmith" / "sdk_batch_py.json"
SDK_JS = Path(__file__).parent / "fixtures" / "langsmith" / "sdk_batch_js.json"


@pytest.mark.parametrize(("path", "run_id", "start", "latency"), [
    (SDK_PY, "d0d84d31-923d-4cb5-94a8-40a0a0087578", "2024-10-11T20:58:23.298773+00:00", 1118.333),
    (SDK_JS, "dc34609e-3eeb-459d-bc2a-6fedb01d2e6e", "2024-10-13T07:05:37.170000+00:00", 1115.0),
])  # fmt: skip
def test_sdk_post_and_patch_payloads(store: Store, path: Path, run_id: str, start: str, latency: float) -> None:
    """What the SDK sends: the run created (`post`), then completed (`patch`; the JS SDK's has no id)."""
    assert sniff(path) == "langsmith"
    summary = ingest(store, [path], "sdk", progress=False, variant_from="revision_id")
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (1, 1, 0)
    request = store.requests("sdk").row(0, named=True)
    assert (request["request_id"], request["input_text"]) == (run_id, "howdy")
    assert request["timestamp"].isoformat() == start
    row = store.captured("sdk").row(0, named=True)
    assert row["output"] == "Howdy! How can I assist you today?"  # not the chat.completion JSON
    assert row["model"] == "gpt-4o-mini-2024-07-18"
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (9, 9, 0)  # usage_metadata
    assert (row["cost_usd"], row["latency_ms"], row["tool_calls"]) == (None, latency, None)
    assert row["variant"] == ("v0.1.82-381-g03d9e1a-dirty" if path == SDK_PY else "<no revision_id>")


def test_child_runs_without_trace_id_join_their_root(store: Store, tmp_path: Path) -> None:
    """Older exports: children carry parent_run_id (and dotted_order), not trace_id."""
    lines = [json.loads(line) for line in RUNS.read_text(encoding="utf-8").splitlines()[:9] if line.strip()]
    for run in lines:
        run.pop("trace_id", None)
    path = tmp_path / "no_trace_id.jsonl"
    path.write_text("".join(json.dumps(run) + "\n" for run in lines), encoding="utf-8")
    before = ingest(store, [RUNS], "with", progress=False)
    after = ingest(store, [path], "without", progress=False)
    assert after.n_quarantined == 0
    with_ids = {r["request_id"]: r for r in store.captured("with").iter_rows(named=True)}
    without = {r["request_id"]: r for r in store.captured("without").iter_rows(named=True)}
    assert set(without) == {f"1ef5a3c0-0000-4a01-8000-00000000{t}001" for t in "abc"} and before.n_requests > 3
    for request_id, row in without.items():
        assert (row["tool_calls"], row["input_tokens"], row["output"]) == (
            with_ids[request_id]["tool_calls"], with_ids[request_id]["input_tokens"], with_ids[request_id]["output"])


@pytest.mark.parametrize(("fmt", "fixture", "ids"), [
    ("langsmith", RUNS, r"1ef5a3c0-0000-"),  # every run id, trace id and dotted order starts so
    ("otel", FIXTURES / "otel" / "traces.json", r'"traceId":"0*'),
])
def test_the_collector_rests_while_a_group_is_gathered(fmt: str, fixture: Path, ids: str, tmp_path: Path) -> None:
    """Gathering a whole group (runs or spans by trace) runs no garbage collection: each pass
    would walk everything held so far and free nothing. The collector is on again afterwards."""
    import gc
    import hashlib

    from harness.capture import reader_for

    text = "\n".join(line for line in fixture.read_text(encoding="utf-8").splitlines() if line.startswith("{"))
    path = tmp_path / f"big-{fmt}.jsonl"
    path.write_text(copies_with_own_ids(text, ids, 300), encoding="utf-8")
    single = tmp_path / f"one-{fmt}.jsonl"
    single.write_text(text + "\n", encoding="utf-8")
    reader, hasher = reader_for(path, fmt), hashlib.sha256()
    passes: list[int] = []

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    gc.callbacks.append(counted)
    try:
        assert gc.isenabled()
        batches = reader.read_group([path], {path: hasher}, 0)  # gathers the whole group
        gathered = len(passes)
        rows = sum(batch.frame.height for batch in batches)
    finally:
        gc.callbacks.remove(counted)
    assert gathered <= 1 and gc.isenabled()  # at most the pass due once it is on again (dozens without the rest)
    one = sum(batch.frame.height for batch in reader_for(single, fmt).read_group([single], {single: hashlib.sha256()}, 0))
    assert rows == 300 * one > 0  # every copy's traces became requests
