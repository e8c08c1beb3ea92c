"""OpenTelemetry GenAI spans (OTLP JSON, the Collector's file exporter) through the real ingest."""

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
OTEL = FIXTURES / "otel"
FILES = [OTEL / "traces.json", OTEL / "traces-2.json"]

ORDER = "5b8efff798038103d269b633813fc60c"  # current conventions, a tool call, spans over 3 lines and 2 files
NORWAY = "a3ce929d0e0e47364bf92f3577b34da6"  # no usage reported, request model only
BLENDER = "0af7651916cd43dd8448eb211c80319c"  # older names: gen_ai.system, prompt_tokens, message events
TIMEOUT = "4bf92f3577b34da6a3ce929d0e0e4736"  # the chat call times out
FOLLOW_UP = "e4d909c290d0fb1ca068ffaddf22cbd0"  # a second turn of ORDER's conversation (file 2)
CRON = "9e107d9d372bb6826bd81d3542a419d6"  # a background job: no chat span, no user input


@pytest.fixture
def ingested(store: Store) -> Store:
    ingest(store, FILES, "otel", progress=False)
    return store


def _row(frame: pl.DataFrame, request_id: str) -> dict[str, Any]:
    return frame.filter(pl.col("request_id") == request_id).row(0, named=True)


def test_collector_files_are_sniffed_and_read_as_otel(store: Store) -> None:
    assert [sniff(path) for path in FILES] == ["otel", "otel"]
    summary = ingest(store, FILES, "otel", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (5, 5, 1)
    assert store.dataset("otel")["format"] == "otel"


def test_one_request_per_trace_with_spans_gathered_across_lines_and_files(ingested: Store) -> None:
    requests = ingested.requests("otel")
    assert requests["request_id"].to_list() == [ORDER, NORWAY, BLENDER, TIMEOUT, FOLLOW_UP]
    assert requests["input_text"].to_list() == [
        "Where is my order 869021? I need it by the weekend.",
        "Do you ship to Norway?",
        "Can I still return the blender I bought 20 days ago?",
        "cancel order 870455 please, I ordered the wrong size",
        "Great. Can you send it to my office instead?",
    ]
    order = _row(requests, ORDER)
    assert (order["user_id"], order["session_id"]) == ("u-0042", "conv-7f3a9c")
    assert Path(order["source"]).name == "traces.json" and order["line"] == 1  # where its first span is
    assert order["timestamp"] == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)  # the root span, in traces-2.json
    messages = json.loads(order["input"])["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].startswith("You are the customer-support agent")

    follow_up = _row(requests, FOLLOW_UP)
    assert Path(follow_up["source"]).name == "traces-2.json"
    assert (follow_up["user_id"], follow_up["session_id"]) == ("u-0042", "conv-7f3a9c")  # same conversation
    assert [m["role"] for m in json.loads(follow_up["input"])["messages"]] == ["system", "user", "assistant", "user"]

    blender = _row(requests, BLENDER)  # enduser.id and session.id on an HTTP server root span
    assert (blender["user_id"], blender["session_id"]) == ("u-0117", "s-2bd41e")
    assert blender["timestamp"] == datetime(2026, 11, 20, 10, 16, 42, 318000, tzinfo=UTC)


def test_captured_output_model_tool_calls_usage_and_latency(ingested: Store) -> None:
    captured = ingested.captured("otel")
    order = _row(captured, ORDER)
    assert order["output"].startswith("Order 869021 shipped with DHL")
    assert order["model"] == "gpt-4.1-2025-04-14"  # the response model of the last chat span
    assert json.loads(order["tool_calls"]) == [{
        "name": "lookup_order", "arguments": {"order_id": "869021"},
        "result": {"order_id": "869021", "status": "shipped", "carrier": "DHL", "eta": "2026-11-21"},
    }]  # fmt: skip
    assert order["n_tool_calls"] == 1
    # summed over both chat spans; the counts arrive as intValue strings
    assert (order["input_tokens"], order["output_tokens"], order["cached_input_tokens"]) == (1717, 79, 1280)
    assert order["latency_ms"] == pytest.approx(2184.31)  # the root span's duration
    assert order["cost_usd"] is None and order["error_type"] is None and order["variant"] == "prod"

    blender = _row(captured, BLENDER)  # older attribute names and per-message events, no tool span
    assert blender["output"].startswith("Yes - kitchen appliances can be returned within 30 days")
    assert blender["model"] == "gpt-4o-mini-2024-07-18"
    assert (blender["input_tokens"], blender["output_tokens"], blender["cached_input_tokens"]) == (787, 79, None)
    assert json.loads(blender["tool_calls"]) == [{
        "name": "get_return_policy", "arguments": {"category": "kitchen"},
        "result": {"category": "kitchen", "window_days": 30, "condition": "unused, original packaging"},
    }]  # fmt: skip
    assert blender["latency_ms"] == pytest.approx(1873.9)

    norway = _row(captured, NORWAY)  # nothing reported stays null, never 0
    assert (norway["input_tokens"], norway["output_tokens"], norway["cached_input_tokens"]) == (None, None, None)
    assert norway["model"] == "gpt-4.1-mini"  # no response model: the request model
    assert norway["output"].startswith("Yes, we ship to Norway.")
    assert (json.loads(norway["tool_calls"]), norway["n_tool_calls"]) == ([], 0)


def test_an_errored_trace_keeps_its_error_type_and_message(ingested: Store) -> None:
    timeout = _row(ingested.captured("otel"), TIMEOUT)
    assert (timeout["error_type"], timeout["error_message"]) == ("APITimeoutError", "Request timed out.")
    assert timeout["output"] is None and timeout["input_tokens"] is None
    assert timeout["model"] == "gpt-4.1"
    assert timeout["latency_ms"] == pytest.approx(30021.7)


def test_metadata_holds_resource_attributes_provider_and_operations(ingested: Store) -> None:
    requests = ingested.requests("otel")
    order = json.loads(_row(requests, ORDER)["metadata"])
    assert order["service.name"] == "shop-support-agent" and order["service.version"] == "2.3.1"
    assert order["deployment.environment"] == "production"
    assert order["gen_ai.provider.name"] == "openai" and order["gen_ai.agent.name"] == "support_agent"
    assert order["gen_ai.operations"] == ["invoke_agent", "chat", "execute_tool"]
    blender = json.loads(_row(requests, BLENDER)["metadata"])
    assert blender["gen_ai.provider.name"] == "openai"  # from the older gen_ai.system
    assert blender["gen_ai.operations"] == ["chat"]


def test_a_trace_without_chat_span_or_input_is_quarantined(ingested: Store) -> None:
    quarantine = ingested.quarantine("otel")
    assert quarantine.height == 1
    row = quarantine.row(0, named=True)
    assert Path(row["source"]).name == "traces.json" and row["line"] == 2
    assert CRON in row["reason"] and "no chat span and no user input" in row["reason"]
    assert json.loads(row["raw"])["traceId"] == CRON


def test_bad_lines_are_quarantined_and_a_partial_trace_is_timed_from_its_spans(store: Store, tmp_path: Path) -> None:
    first_line = (OTEL / "traces.json").read_text(encoding="utf-8").splitlines()[0]
    log = tmp_path / "partial.json"
    log.write_text("\n".join([first_line, '{"resourceSpans": [{"scopeSpans', '{"hello": "world"}']) + "\n")
    summary = ingest(store, [log], "partial", progress=False)
    assert (summary.n_requests, summary.n_quarantined) == (2, 2)
    reasons = store.quarantine("partial")["reason"].to_list()
    assert reasons[0].startswith("invalid JSON") and "not an OTLP ExportTraceServiceRequest" in reasons[1]
    order = _row(store.captured("partial"), ORDER)  # first chat span and tool span only: no root
    assert order["latency_ms"] == pytest.approx(1019.4 - 12.5)  # first start (chat) to last end (tool)
    assert order["output"] is None  # the only chat span asked for a tool
    assert json.loads(order["tool_calls"])[0]["name"] == "lookup_order"
    assert _row(store.requests("partial"), ORDER)["timestamp"] == datetime(2026, 11, 20, 10, 15, 0, 12500, tzinfo=UTC)


def test_ingesting_the_same_files_again_is_a_no_op(store: Store) -> None:
    ingest(store, FILES, "otel", progress=False)
    again = ingest(store, FILES, "otel", progress=False)
    assert again.unchanged
    assert store.requests("otel").height == 5


def test_other_formats_are_not_sniffed_as_otel(tmp_path: Path) -> None:
    assert sniff(write_jsonl(tmp_path / "canonical.jsonl", simple_records(3))) == "jsonl"
    assert sniff(FIXTURES / "openinference" / "phoenix-otlp.json") == "openinference"
    others = [p for p in FIXTURES.glob("*/*") if p.parent.name != "otel" and p.is_file() and p.suffix != ".py"]
    assert others
    for path in others:
        assert sniff(path) != "otel", path
