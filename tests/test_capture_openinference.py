"""OpenInference spans (Arize Phoenix), as OTLP JSON and as Phoenix span records, through the real ingest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from harness.capture import sniff
from harness.ingest import ingest
from harness.store import Store
from tests.conftest import simple_records, write_jsonl

FIXTURES = Path(__file__).parent / "fixtures"
OPENINFERENCE = FIXTURES / "openinference"
OTLP = OPENINFERENCE / "phoenix-otlp.json"
SPANS = OPENINFERENCE / "phoenix-spans.jsonl"

BLENDER = "7d3c6a1f0b2e4c8d9a5f1e2d3c4b5a69"  # OTLP: AGENT root, LLM -> TOOL -> LLM, costs, metadata, tags
STATUS = "1f2e3d4c5b6a79881f2e3d4c5b6a7988"  # OTLP: CHAIN root with JSON input, no input messages, no tokens
RATE_LIMIT = "aa11bb22cc33dd44ee55ff6600778899"  # OTLP: the LLM call fails, exception event only
WARRANTY = "3e0b6c1f4b7a4f6e9d2c8a1b5e7f9d01"  # Phoenix: content parts, a tool, a stated cost of 0
PASSWORD = "5a4b3c2d1e0f99887766554433221100"  # Phoenix: one LLM span, nested attributes
EMBEDDING = "0c1d2e3f405162738495a6b7c8d9eaf0"  # Phoenix: no LLM span, no input


@pytest.fixture
def ingested(store: Store) -> Store:
    ingest(store, [OTLP, SPANS], "oi", progress=False)
    return store


def _row(frame: pl.DataFrame, request_id: str) -> dict[str, Any]:
    return frame.filter(pl.col("request_id") == request_id).row(0, named=True)


def test_both_shapes_are_sniffed_and_read_as_openinference(store: Store) -> None:
    assert (sniff(OTLP), sniff(SPANS)) == ("openinference", "openinference")
    summary = ingest(store, [OTLP, SPANS], "oi", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (5, 5, 2)
    assert store.dataset("oi")["format"] == "openinference"


def test_one_request_per_trace_with_input_user_session_and_time(ingested: Store) -> None:
    requests = ingested.requests("oi")
    assert requests["request_id"].to_list() == [BLENDER, STATUS, RATE_LIMIT, WARRANTY, PASSWORD]
    assert requests["input_text"].to_list() == [
        "Can I return the blender I bought last week?",
        "What is the status of order 55012?",
        "I want to cancel my subscription",
        "My headphones stopped charging after two weeks. Are they under warranty?",
        "How do I reset my password?",
    ]
    blender = _row(requests, BLENDER)
    assert (blender["user_id"], blender["session_id"]) == ("cust-881", "sess-31")
    assert blender["timestamp"] == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    assert [m["role"] for m in json.loads(blender["input"])["messages"]] == ["system", "user"]
    assert blender["line"] == 1  # its LLM span comes first; the AGENT root is exported on line 2

    status = _row(requests, STATUS)  # no LLM input messages: the root CHAIN's JSON input.value
    assert json.loads(status["input"]) == "What is the status of order 55012?"
    assert (status["user_id"], status["session_id"]) == ("cust-502", "sess-40")

    warranty = _row(requests, WARRANTY)  # Phoenix export: ISO times, text in message.contents parts
    assert Path(warranty["source"]).name == "phoenix-spans.jsonl" and warranty["line"] == 1
    assert warranty["timestamp"] == datetime(2026, 11, 21, 10, 2, 3, 250000, tzinfo=UTC)

    password = _row(requests, PASSWORD)  # nested attributes are flattened
    assert (password["user_id"], password["session_id"], password["line"]) == ("cust-31", "sess-78", 3)


def test_captured_output_model_tools_tokens_cost_and_latency(ingested: Store) -> None:
    captured = ingested.captured("oi")
    blender = _row(captured, BLENDER)
    assert blender["output"].startswith("Yes. Your blender (order 870112)")
    assert blender["model"] == "gpt-4.1-2025-04-14"
    assert json.loads(blender["tool_calls"]) == [{
        "name": "lookup_order", "arguments": {"customer_id": "cust-881", "product": "blender"},
        "result": {"order_id": "870112", "delivered": "2026-11-14", "category": "kitchen"},
    }]  # fmt: skip
    assert (blender["input_tokens"], blender["output_tokens"], blender["cached_input_tokens"]) == (1342, 89, 1152)
    assert blender["cost_usd"] == pytest.approx(0.001528 + 0.001868)
    assert blender["latency_ms"] == pytest.approx(2411.6)

    status = _row(captured, STATUS)  # no token counts, no cost: null, never 0
    assert status["output"] == "Order 55012 is out for delivery today and should arrive by 8 pm."
    assert (status["input_tokens"], status["output_tokens"], status["cost_usd"]) == (None, None, None)
    assert status["model"] == "gpt-4.1-mini" and status["n_tool_calls"] == 0

    warranty = _row(captured, WARRANTY)
    assert json.loads(warranty["tool_calls"]) == [{
        "name": "create_ticket",
        "arguments": {"category": "warranty", "order_id": "871930", "summary": "headphones not charging"},
        "result": "T-48213",
    }]  # fmt: skip
    assert warranty["cost_usd"] == 0.0  # stated as 0 by both LLM spans: kept
    assert (warranty["input_tokens"], warranty["output_tokens"], warranty["cached_input_tokens"]) == (2512, 105, None)
    assert warranty["model"] == "claude-sonnet-4-5-20250929"
    assert warranty["latency_ms"] == pytest.approx(2850.0)

    password = _row(captured, PASSWORD)
    assert password["model"] == "claude-haiku-4-5" and password["output"].startswith("Tap 'Forgot password'")
    assert (password["input_tokens"], password["output_tokens"]) == (210, 23)
    assert password["latency_ms"] == pytest.approx(1250.333)


def test_an_errored_trace_takes_its_type_from_the_exception_event(ingested: Store) -> None:
    failed = _row(ingested.captured("oi"), RATE_LIMIT)
    assert failed["error_type"] == "openai.RateLimitError"
    assert failed["error_message"] == "Error code: 429 - Rate limit reached for gpt-4.1"
    assert failed["output"] is None


def test_metadata_merges_the_metadata_attribute_resource_tags_and_kinds(ingested: Store) -> None:
    requests = ingested.requests("oi")
    blender = json.loads(_row(requests, BLENDER)["metadata"])
    assert (blender["intent"], blender["tier"], blender["channel"]) == ("refund_request", "pro", "web")
    assert blender["openinference.project.name"] == "support-agent-prod"
    assert blender["tags"] == ["support", "returns"] and blender["llm.provider"] == "openai"
    assert blender["openinference.span.kinds"] == ["AGENT", "LLM", "TOOL"]
    password = json.loads(_row(requests, PASSWORD)["metadata"])  # a nested metadata object stays whole
    assert (password["intent"], password["tier"], password["llm.provider"]) == ("account_help", "free", "anthropic")


def test_a_trace_without_llm_span_or_input_and_a_truncated_line_are_quarantined(ingested: Store) -> None:
    quarantine = ingested.quarantine("oi")
    assert [(Path(s).name, line) for s, line in zip(quarantine["source"], quarantine["line"], strict=True)] == [
        ("phoenix-spans.jsonl", 6), ("phoenix-spans.jsonl", 7)]  # fmt: skip
    embedding, truncated = quarantine["reason"].to_list()
    assert EMBEDDING in embedding and "no LLM span and no user input" in embedding
    assert truncated.startswith("invalid JSON")


def test_a_cost_only_some_llm_spans_state_is_left_out(store: Store, tmp_path: Path) -> None:
    def llm(span_id: str, start: str, attributes: dict[str, Any]) -> dict[str, Any]:
        return {"name": "ChatCompletion", "context": {"trace_id": "ab" * 16, "span_id": span_id}, "span_kind": "LLM",
                "parent_id": None if span_id == "01" else "01", "start_time": start, "end_time": start,
                "status_code": "OK", "attributes": {"llm.model_name": "gpt-4.1", **attributes}}

    log = write_jsonl(tmp_path / "spans.jsonl", [
        llm("01", "2026-11-21T10:00:00Z", {"input.value": "hi", "llm.cost.total": 0.002, "llm.token_count.prompt": 9}),
        llm("02", "2026-11-21T10:00:01Z", {"llm.token_count.prompt": 5}),
    ])  # fmt: skip
    ingest(store, [log], "partial", progress=False)
    row = store.captured("partial").row(0, named=True)
    assert row["cost_usd"] is None and row["input_tokens"] == 14
    assert store.requests("partial")["input_text"].to_list() == ["hi"]


def test_ingesting_the_same_files_again_is_a_no_op(store: Store) -> None:
    ingest(store, [OTLP, SPANS], "oi", progress=False)
    again = ingest(store, [OTLP, SPANS], "oi", progress=False)
    assert again.unchanged
    assert store.requests("oi").height == 5


def test_other_formats_are_not_sniffed_as_openinference(tmp_path: Path) -> None:
    assert sniff(write_jsonl(tmp_path / "canonical.jsonl", simple_records(3))) == "jsonl"
    assert sniff(FIXTURES / "otel" / "traces.json") == "otel"
    others = [p for p in FIXTURES.glob("*/*") if p.parent.name != "openinference" and p.is_file() and p.suffix != ".py"]
    assert others
    for path in others:
        assert sniff(path) != "openinference", path


PHOENIX_SNAKE = FIXTURES / "openinference" / "phoenix_otlp_snake_case.json"
PHOENIX_CASES = FIXTURES / "openinference" / "phoenix_spans_by_case.json"


def test_phoenix_snake_case_otlp_download(store: Store) -> None:
    """OTLP written with proto field names (`resource_spans`, base64 ids), as protobuf's
    MessageToJson(preserving_proto_field_name=True) writes it; a lone tool-call turn has no answer."""
    assert sniff(PHOENIX_SNAKE) == "openinference"
    summary = ingest(store, [PHOENIX_SNAKE], "snake", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (2, 2, 0)
    rows = {row["input_text"]: row for row in store.requests("snake").iter_rows(named=True)}
    assert set(rows) == {"Where is my order 869021?", "Cancel order 77"}
    assert all(len(r["request_id"]) == 32 and int(r["request_id"], 16) for r in rows.values())  # base64 -> hex
    captured = {row["request_id"]: row for row in store.captured("snake").iter_rows(named=True)}
    agent = captured[rows["Where is my order 869021?"]["request_id"]]
    assert agent["output"] == "Your order 869021 shipped on 14 November with DHL."
    assert json.loads(agent["tool_calls"]) == [
        {"name": "lookup_order", "arguments": {"order_id": "869021"}, "result": {"status": "shipped"}}]
    assert (agent["input_tokens"], agent["output_tokens"], agent["cost_usd"], agent["model"]) == (
        812, 21, 0.001792, "gpt-4.1")
    turn = captured[rows["Cancel order 77"]["request_id"]]
    assert turn["output"] is None  # not the raw completion JSON of output.value
    assert json.loads(turn["tool_calls"]) == [{"name": "cancel_order", "arguments": {"order_id": "77"}}]
    assert (turn["input_tokens"], turn["output_tokens"], turn["cost_usd"]) == (95, 17, None)
    metadata = json.loads(rows["Cancel order 77"]["metadata"])
    assert (metadata["service.name"], metadata["service.version"]) == ("phoenix-demo", "7")


def test_phoenix_dict_of_span_lists(store: Store) -> None:
    """A JSON document holding span lists by case (Phoenix's own test data): one request per trace."""
    assert sniff(PHOENIX_CASES) == "openinference"
    summary = ingest(store, [PHOENIX_CASES], "cases", progress=False, variant_from="pxi.approval.decision")
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (2, 2, 0)
    accepted, rejected = "00000000000000000015bfc9bdc170aa", "000000000000000003e86c1ad72fb951"
    requests = {row["request_id"]: row for row in store.requests("cases").iter_rows(named=True)}
    assert set(requests) == {accepted, rejected}
    assert (requests[accepted]["input_text"], requests[accepted]["session_id"]) == ("redacted input", "session-0000")
    captured = {row["request_id"]: row for row in store.captured("cases").iter_rows(named=True)}
    ok = captured[accepted]
    assert (ok["output"], ok["latency_ms"], ok["error_type"], ok["variant"]) == (
        "redacted output", 1000.0, None, "accepted")
    assert json.loads(ok["tool_calls"])[0]["result"]["status"] == "accepted"
    assert (ok["input_tokens"], ok["output_tokens"], ok["cost_usd"], ok["model"]) == (None, None, None, None)
    failed = captured[rejected]
    assert (failed["output"], failed["error_type"], failed["variant"]) == (None, "agent_error", "rejected")
    assert json.loads(failed["tool_calls"]) == [{"name": "edit_prompt_instance", "arguments": "redacted input",
        "result": {"status": "rejected", "instanceId": 5, "message": "redacted message",
                   "approval": {"decision": "rejected", "source": "user"}}}]  # fmt: skip
