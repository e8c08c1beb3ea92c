"""Langfuse exports: traces with embedded observations, and traces + observations files, through ingest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.capture import sniff
from harness.ingest import ingest
from harness.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "langfuse"
EXPORT = FIXTURES / "traces_export.json"
TRACES = FIXTURES / "traces.jsonl"
OBSERVATIONS = FIXTURES / "observations.jsonl"
CANONICAL = Path(__file__).parent.parent / "datasets" / "sample_support.jsonl"


def by_id(frame: Any) -> dict[str, dict[str, Any]]:
    return {row["request_id"]: row for row in frame.iter_rows(named=True)}


@pytest.mark.parametrize("path", [EXPORT, TRACES, OBSERVATIONS])
def test_sniffing_finds_langfuse(path: Path) -> None:
    assert sniff(path) == "langfuse"


def test_canonical_log_is_not_langfuse() -> None:
    assert sniff(CANONICAL) == "jsonl"


def test_traces_with_embedded_observations(store: Store) -> None:
    summary = ingest(store, [EXPORT], "lf", progress=False)
    assert store.dataset("lf")["format"] == "langfuse"
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (3, 3, 0)

    requests = store.requests("lf")
    assert requests["request_id"].to_list() == ["c3f1a9e2b7d84e0f9a1b2c3d4e5f6a7b", "lf-trace-0002", "1093"]
    assert requests["line"].to_list() == [1, 2, 3]
    rows = by_id(requests)
    order = rows["c3f1a9e2b7d84e0f9a1b2c3d4e5f6a7b"]
    assert (order["user_id"], order["session_id"]) == ("u-0042", "s-9f1c")
    assert order["input_text"] == "Where is my order 869021?"
    assert order["timestamp"].isoformat() == "2026-11-16T09:12:03.120000+00:00"
    assert json.loads(order["metadata"]) == {"intent": "order_status", "tier": "pro", "name": "support-agent",
                                             "tags": ["prod", "support"], "release": "v2.3.1", "version": "agent-7"}
    refund = rows["lf-trace-0002"]  # a list of chat messages stays a conversation
    assert [m["role"] for m in json.loads(refund["input"])["messages"]] == ["system", "user"]
    assert refund["input_text"] == "Refund order 77 please, it arrived broken."
    assert json.loads(refund["metadata"]) == {"intent": "refund_request", "tier": "free", "name": "support-agent"}
    decorated = rows["1093"]  # numeric id; the @observe record of a one-string call is that string
    assert decorated["input_text"] == "Can I change the shipping address of order 5512?"
    assert (decorated["user_id"], decorated["session_id"]) == (None, None)
    assert json.loads(decorated["metadata"]) == {"name": "faq-bot", "tags": ["faq"]}

    captured = by_id(store.captured("lf"))
    answer = captured["c3f1a9e2b7d84e0f9a1b2c3d4e5f6a7b"]
    assert answer["output"].startswith("Order 869021 shipped on 14 November")
    assert answer["model"] == "gpt-4.1"
    assert json.loads(answer["tool_calls"]) == [{"name": "lookup_order", "arguments": {"order_id": "869021"},
                                                 "result": {"status": "shipped", "carrier": "DHL"}}]
    assert (answer["input_tokens"], answer["output_tokens"], answer["cached_input_tokens"]) == (1682, 59, 512)
    assert (answer["cost_usd"], answer["latency_ms"], answer["error_type"]) == (0.00412, 2345.0, None)

    failed = captured["lf-trace-0002"]  # an ERROR span marked as a tool; no usage anywhere; a stated 0 cost
    assert json.loads(failed["tool_calls"]) == [
        {"name": "issue_refund", "arguments": {"order_id": "77", "reason": "damaged"}}]
    assert (failed["error_type"], failed["error_message"]) == ("span_error", "Refund service unavailable (503)")
    assert (failed["input_tokens"], failed["output_tokens"], failed["cached_input_tokens"]) == (None, None, None)
    assert (failed["cost_usd"], failed["model"]) == (0.0, "gpt-4.1-mini")
    assert failed["latency_ms"] == 3500.0  # no trace latency: first start to last end

    bare = captured["1093"]  # no observations: nothing known about tools, usage, cost or latency
    assert bare["output"].startswith("Yes, as long as it has not shipped")
    assert (bare["tool_calls"], bare["n_tool_calls"], bare["model"], bare["cost_usd"], bare["latency_ms"]) == (
        None, None, None, None, None)

    assert ingest(store, [EXPORT], "lf", progress=False).unchanged


def test_traces_and_observations_files_are_joined(store: Store) -> None:
    summary = ingest(store, [TRACES, OBSERVATIONS], "pair", progress=False)
    assert store.dataset("pair")["format"] == "langfuse"
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (2, 2, 2)

    requests = by_id(store.requests("pair"))
    assert set(requests) == {"lf-7a01", "lf-7a02"}
    assert requests["lf-7a01"]["input_text"] == "Do you ship to Norway?"
    assert requests["lf-7a02"]["input_text"] == "Change my account email to ana@example.com"  # from the generation
    assert requests["lf-7a02"]["source"] == str(TRACES)

    captured = by_id(store.captured("pair"))
    norway = captured["lf-7a01"]
    assert norway["output"] == "Yes, we ship to Norway. Delivery takes 4-6 business days."
    assert (norway["model"], norway["n_tool_calls"], norway["latency_ms"]) == ("claude-sonnet-4", 0, 912.0)
    assert (norway["input_tokens"], norway["output_tokens"], norway["cached_input_tokens"]) == (1200, 85, 1024)
    assert norway["cost_usd"] == 0.0049  # no totalCost: the observations' costs summed
    email = captured["lf-7a02"]
    assert json.loads(email["tool_calls"]) == [
        {"name": "update_email", "arguments": {"email": "ana@example.com"}, "result": "ok"}]
    assert (email["input_tokens"], email["output_tokens"], email["cost_usd"]) == (300, 20, 0.0009)

    quarantine = store.quarantine("pair")
    rows = {(Path(r["source"]).name, r["line"]): r["reason"] for r in quarantine.iter_rows(named=True)}
    assert rows[("traces.jsonl", 3)].startswith("invalid JSON")
    assert rows[("observations.jsonl", 4)] == "observation of trace 'lf-missing', which is not in the export"

    assert ingest(store, [TRACES, OBSERVATIONS], "pair", progress=False).unchanged


def test_an_observation_exported_twice_counts_once(store: Store, tmp_path: Path) -> None:
    embedded = json.loads(EXPORT.read_text(encoding="utf-8"))[0]["observations"]
    again = tmp_path / "observations.jsonl"
    again.write_text("\n".join(json.dumps(o) for o in embedded) + "\n", encoding="utf-8")
    ingest(store, [EXPORT, again], "twice", progress=False)
    row = by_id(store.captured("twice"))["c3f1a9e2b7d84e0f9a1b2c3d4e5f6a7b"]
    assert (row["input_tokens"], row["n_tool_calls"]) == (1682, 1)


def test_a_single_trace_export_stays_whole(tmp_path: Path) -> None:
    """Regression: one trace fetched by id (an object with an `observations` list) was unwrapped
    into its observations, and nothing could be ingested."""
    trace = {"id": "trace-one", "timestamp": "2026-11-20T10:15:00Z", "userId": "u-1", "input": "where is my order?",
             "output": "It shipped.", "observations": [
                 {"id": "o1", "traceId": "trace-one", "type": "GENERATION", "model": "gpt-4.1",
                  "startTime": "2026-11-20T10:15:00Z", "endTime": "2026-11-20T10:15:01Z",
                  "usage": {"input": 120, "output": 12}}]}  # fmt: skip
    path = tmp_path / "one_trace.json"
    path.write_text(json.dumps(trace), encoding="utf-8")
    assert sniff(path) == "langfuse"
    store = Store(tmp_path / "h.duckdb")
    summary = ingest(store, [path], "one", progress=False)
    assert summary.n_requests == 1 and summary.n_quarantined == 0
    assert store.captured("one").row(0, named=True)["input_tokens"] == 120


LANGGRAPH = FIXTURES / "langgraph_trace.json"


def test_langgraph_trace_download(store: Store) -> None:
    """A trace as Langfuse's download writes it (`{"trace", "observations"}`): input and output are
    JSON-encoded strings of LangChain messages, the tool is a plain SPAN, two GENERATIONs."""
    assert sniff(LANGGRAPH) == "langfuse"
    summary = ingest(store, [LANGGRAPH], "lg", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (1, 1, 0)
    request = store.requests("lg").row(0, named=True)
    assert (request["request_id"], request["input_text"]) == (
        "e1fde3efec57ce8a69bafd3fb928a7eb", "Search the web for 'example' and summarize.")
    assert json.loads(request["input"]) == {"messages": [
        {"role": "user", "content": "Search the web for 'example' and summarize."}]}
    assert request["timestamp"].isoformat() == "2025-08-22T09:38:56.228000+00:00"
    row = store.captured("lg").row(0, named=True)
    assert row["output"].startswith('The search for "example" primarily leads to the website [example.com]')
    assert json.loads(row["tool_calls"]) == [{"name": "Web-Search", "arguments": {"query": "example"}, "result": [
        {"url": "https://example.com", "title": "Example Result", "q": "example"}]}]
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (60 + 108, 15 + 51, 0)
    assert row["cost_usd"] == pytest.approx(0.000075 + 0.000159, abs=1e-12)
    assert (row["latency_ms"], row["model"], row["error_type"]) == (2610.0, "gpt-4o-2024-08-06", None)


def test_empty_trace_output_takes_the_last_generation_and_nested_generations_count_once(
        store: Store, tmp_path: Path) -> None:
    document = json.loads(LANGGRAPH.read_text(encoding="utf-8"))
    document["trace"]["output"] = None
    first, _, _, last = document["observations"]
    wrapper = {**first, "id": "agent-step", "parentObservationId": None, "name": "agent step",
               "usageDetails": {"input": 168, "output": 66}, "costDetails": {"total": 0.000234}}
    first["parentObservationId"] = last["parentObservationId"] = "agent-step"  # both calls inside one step
    document["observations"].append(wrapper)
    path = tmp_path / "nested.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    ingest(store, [path], "nested", progress=False, variant_from="environment")
    row = store.captured("nested").row(0, named=True)
    assert row["output"].startswith('The search for "example"')  # the last generation's answer
    assert (row["input_tokens"], row["output_tokens"]) == (168, 66)  # not 336 / 132
    assert row["cost_usd"] == pytest.approx(0.000234, abs=1e-12)
    assert row["variant"] == "default"
