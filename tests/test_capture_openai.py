"""OpenAI logs: gateway chat-completion logs and Batch API input/output/error files, through ingest."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from harness.capture import sniff
from harness.errors import IngestError
from harness.ingest import ingest
from harness.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
CHAT = FIXTURES / "openai_chat" / "gateway.jsonl"
BATCH_INPUT = FIXTURES / "openai_batch" / "batch_input.jsonl"
BATCH_OUTPUT = FIXTURES / "openai_batch" / "batch_output.jsonl"
BATCH_ERRORS = FIXTURES / "openai_batch" / "batch_errors.jsonl"
CANONICAL = Path(__file__).parent.parent / "datasets" / "sample_support.jsonl"


def by_id(frame: Any) -> dict[str, dict[str, Any]]:
    return {row["request_id"]: row for row in frame.iter_rows(named=True)}


@pytest.mark.parametrize(("path", "fmt"), [
    (CHAT, "openai_chat"),
    (BATCH_INPUT, "openai_batch_input"),
    (BATCH_OUTPUT, "openai_batch_output"),
    (BATCH_ERRORS, "openai_batch_output"),
    (CANONICAL, "jsonl"),
])  # fmt: skip
def test_sniffing_tells_the_openai_formats_apart(path: Path, fmt: str) -> None:
    assert sniff(path) == fmt


def test_chat_log_requests(store: Store) -> None:
    summary = ingest(store, [CHAT], "chat", progress=False)
    assert store.dataset("chat")["format"] == "openai_chat"
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (6, 6, 3)

    requests = store.requests("chat")
    assert requests["request_id"].to_list() == [
        "gw-01HZX3K9Q2", "gw-01HZX3KA7M", "chatcmpl-9xYz77", "1042", "gw-01HZX4R001", "gw-01HZX4R002"]
    rows = by_id(requests)
    first = rows["gw-01HZX3K9Q2"]
    assert (first["user_id"], first["session_id"], first["line"]) == ("u-0042", "s-9f1c", 1)
    assert first["input_text"] == "Where is my order 869021?"
    assert json.loads(first["input"])["messages"][0]["role"] == "system"
    assert first["timestamp"].isoformat() == "2026-11-16T09:12:03.120000+00:00"
    assert json.loads(first["metadata"]) == {"channel": "web_chat", "intent": "order_status", "tier": "pro"}
    tool_turn = json.loads(rows["gw-01HZX3KA7M"]["input"])["messages"]
    assert [m["role"] for m in tool_turn] == ["system", "user", "assistant", "tool"]
    assert rows["gw-01HZX3KA7M"]["input_text"] == "Where is my order 869021?"
    no_id = rows["chatcmpl-9xYz77"]  # request_id from response.id, time from response.created
    assert no_id["timestamp"].isoformat() == "2026-11-16T09:56:40+00:00"
    assert (no_id["user_id"], no_id["session_id"], no_id["metadata"]) == ("u-0107", None, None)
    assert rows["1042"]["timestamp"].isoformat() == "2026-11-16T09:30:00+00:00"  # +01:00 offset kept


def test_chat_log_captured(store: Store) -> None:
    ingest(store, [CHAT], "chat", progress=False)
    rows = by_id(store.captured("chat"))

    call = rows["gw-01HZX3K9Q2"]
    assert call["output"] is None and call["model"] == "gpt-4.1-2025-04-14"
    assert json.loads(call["tool_calls"]) == [{"name": "lookup_order", "arguments": {"order_id": "869021"}}]
    assert (call["input_tokens"], call["output_tokens"], call["cached_input_tokens"]) == (812, 18, 512)
    assert (call["cost_usd"], call["latency_ms"], call["error_type"]) == (0.00231, 1840, None)

    answer = rows["gw-01HZX3KA7M"]
    assert answer["output"].startswith("Order 869021 shipped")
    assert (answer["n_tool_calls"], answer["cached_input_tokens"], answer["latency_ms"]) == (0, None, 912.5)

    no_usage = rows["chatcmpl-9xYz77"]  # no usage: missing, not 0; a stated cost of 0 stays 0
    assert (no_usage["input_tokens"], no_usage["output_tokens"], no_usage["cached_input_tokens"]) == (None, None, None)
    assert (no_usage["cost_usd"], no_usage["latency_ms"], no_usage["model"]) == (0.0, 1250.0, "gpt-4.1-mini")

    refusal = rows["1042"]
    assert refusal["output"] == "I can't share other customers' personal information."
    assert (refusal["cost_usd"], refusal["input_tokens"], refusal["cached_input_tokens"]) == (None, 95, None)

    failed = rows["gw-01HZX4R001"]
    assert (failed["error_type"], failed["output"], failed["model"]) == ("tokens", None, "gpt-4.1")
    assert failed["error_message"].startswith("Rate limit reached for gpt-4.1")
    assert (failed["tool_calls"], failed["n_tool_calls"], failed["input_tokens"], failed["latency_ms"]) == (
        None, None, None, 212)

    truncated = rows["gw-01HZX4R002"]  # arguments that are not valid JSON are kept as text
    assert json.loads(truncated["tool_calls"])[0]["arguments"] == '{"order_id": 77, "reason": "dama'
    assert truncated["cached_input_tokens"] == 0


def test_chat_log_quarantine_and_reingest(store: Store) -> None:
    ingest(store, [CHAT], "chat", progress=False)
    quarantine = store.quarantine("chat")
    assert quarantine["line"].to_list() == [7, 8, 9]
    assert set(quarantine["source"].to_list()) == {str(CHAT)}
    reasons = quarantine["reason"].to_list()
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "request.messages is missing or not a list of messages"
    assert reasons[2].startswith("not an OpenAI chat log entry")
    assert '"request_id": "r-1"' in quarantine["raw"][2]

    again = ingest(store, [CHAT], "chat", progress=False)
    assert again.unchanged and store.requests("chat").height == 6


def test_chat_log_as_a_json_array(store: Store, tmp_path: Path) -> None:
    entries = [json.loads(line) for line in CHAT.read_text(encoding="utf-8").splitlines()[:3]]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(entries, indent=2), encoding="utf-8")
    assert sniff(path) == "openai_chat"
    ingest(store, [path], "array", progress=False)
    requests = store.requests("array")
    assert requests["request_id"].to_list() == ["gw-01HZX3K9Q2", "gw-01HZX3KA7M", "chatcmpl-9xYz77"]
    assert requests["line"].to_list() == [1, 2, 3]


def test_batch_files_are_joined_by_custom_id(store: Store) -> None:
    summary = ingest(store, [BATCH_INPUT, BATCH_OUTPUT, BATCH_ERRORS], "batch", progress=False)
    assert store.dataset("batch")["format"] == "openai_batch"
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (5, 4, 1)

    requests = store.requests("batch")
    assert requests["request_id"].to_list() == ["req-0001", "req-0002", "req-0003", "req-0004", "req-0005"]
    assert requests["line"].to_list() == [1, 2, 3, 4, 5]
    assert set(requests["source"].to_list()) == {str(BATCH_INPUT)}
    rows = by_id(requests)
    assert rows["req-0002"]["input_text"] == "I want a refund for order 77, it arrived broken."
    assert (rows["req-0002"]["user_id"], json.loads(rows["req-0002"]["metadata"])) == (
        "u-0107", {"intent": "refund_request"})
    assert rows["req-0001"]["timestamp"].isoformat() == "2026-11-16T11:53:10+00:00"
    assert rows["req-0005"]["timestamp"] is None

    captured = by_id(store.captured("batch"))
    assert set(captured) == {"req-0001", "req-0002", "req-0003", "req-0004"}  # req-0005 has no output
    answer = captured["req-0001"]
    assert answer["output"].startswith("Order 869021 shipped") and answer["model"] == "gpt-4.1-mini-2025-04-14"
    assert (answer["input_tokens"], answer["output_tokens"], answer["cached_input_tokens"]) == (402, 38, None)
    refund = captured["req-0002"]
    assert json.loads(refund["tool_calls"]) == [
        {"name": "issue_refund", "arguments": {"order_id": "77", "reason": "damaged"}}]
    expired = captured["req-0003"]
    assert (expired["error_type"], expired["output"], expired["model"]) == ("batch_expired", None, "gpt-4.1-mini")
    assert expired["error_message"].startswith("This request could not be executed")
    rejected = captured["req-0004"]
    assert rejected["error_type"] == "invalid_request_error"
    assert rejected["error_message"].startswith("Invalid 'max_tokens'")
    assert all(row["latency_ms"] is None and row["cost_usd"] is None for row in captured.values())

    orphan = store.quarantine("batch").row(0, named=True)
    assert (orphan["source"], orphan["line"]) == (str(BATCH_OUTPUT), 3)
    assert orphan["reason"] == "no input line for custom_id 'req-0099'"

    assert ingest(store, [BATCH_INPUT, BATCH_OUTPUT, BATCH_ERRORS], "batch", progress=False).unchanged


def test_batch_join_does_not_depend_on_file_order(store: Store) -> None:
    ingest(store, [BATCH_ERRORS, BATCH_OUTPUT, BATCH_INPUT], "reversed", progress=False)
    assert store.dataset("reversed")["format"] == "openai_batch"  # whichever file comes first
    assert store.requests("reversed")["request_id"].to_list() == [
        "req-0001", "req-0002", "req-0003", "req-0004", "req-0005"]
    assert store.captured("reversed").height == 4


def test_batch_input_alone_and_duplicate_custom_ids(store: Store, tmp_path: Path) -> None:
    summary = ingest(store, [BATCH_INPUT], "inputs", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (5, 0, 0)

    lines = BATCH_INPUT.read_text(encoding="utf-8").splitlines()
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_text("\n".join([*lines, lines[0]]) + "\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"'req-0001' at lines 1, 6"):
        ingest(store, [doubled, BATCH_OUTPUT], "doubled", progress=False)


def test_a_large_gzipped_chat_log_keeps_order_and_lines(store: Store, tmp_path: Path) -> None:
    template = json.loads(CHAT.read_text(encoding="utf-8").splitlines()[2])
    lines = [json.dumps({**template, "id": f"gw-{i}"}) for i in range(12_000)]
    lines[7_000] = "{broken"
    path = tmp_path / "gateway.log"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    summary = ingest(store, [path], "large", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (11_999, 11_999, 1)
    requests = store.requests("large")
    assert requests["request_id"][0] == "gw-0" and requests["request_id"][-1] == "gw-11999"
    assert requests["line"].to_list() == [n for n in range(1, 12_001) if n != 7_001]
    assert store.quarantine("large")["line"].to_list() == [7_001]


VLLM_INPUT = FIXTURES / "openai_batch" / "vllm_input.jsonl"
VLLM_RESULTS = FIXTURES / "openai_batch" / "vllm_results.jsonl"
RESPONSES_INPUT = FIXTURES / "openai_batch" / "responses_input.jsonl"
RESPONSES_OUTPUT = FIXTURES / "openai_batch" / "responses_output.jsonl"


def test_vllm_batch_results_named_openai_batch(store: Store) -> None:
    """vLLM's run_batch writes the completion itself as `response` (no status_code/body wrapper)."""
    summary = ingest(store, [VLLM_INPUT, VLLM_RESULTS], "vllm", fmt="openai_batch", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (2, 2, 0)
    requests = by_id(store.requests("vllm"))
    assert [m["role"] for m in json.loads(requests["request-1"]["input"])["messages"]] == ["system", "user"]
    assert requests["request-1"]["input_text"] == "Hello world!"
    assert requests["request-1"]["timestamp"].isoformat() == "2024-05-13T20:48:56+00:00"
    captured = by_id(store.captured("vllm"))
    assert captured["request-1"]["output"].startswith("Hello! It's great to meet you!")
    assert (captured["request-1"]["input_tokens"], captured["request-1"]["output_tokens"]) == (25, 31)
    assert (captured["request-2"]["output"], captured["request-2"]["input_tokens"],
            captured["request-2"]["output_tokens"]) == ("*silence*", 27, 5)
    for row in captured.values():
        assert (row["error_type"], row["latency_ms"], row["cost_usd"]) == (None, None, None)
        assert row["model"] == "meta-llama/Meta-Llama-3-8B-Instruct"


def test_responses_api_batch_lines(store: Store) -> None:
    summary = ingest(store, [RESPONSES_INPUT, RESPONSES_OUTPUT], "resp", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (2, 2, 0)
    requests = by_id(store.requests("resp"))
    assert json.loads(requests["resp-1"]["input"]) == {"messages": [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "Where is my order 869021?"}]}
    assert requests["resp-2"]["input_text"] == "Cancel order 77"
    captured = by_id(store.captured("resp"))
    answer, call = captured["resp-1"], captured["resp-2"]
    assert (answer["output"], answer["input_tokens"], answer["output_tokens"], answer["cached_input_tokens"]) == (
        "Order 869021 shipped on 14 November.", 36, 11, 0)
    assert answer["model"] == "gpt-4.1-2025-04-14" and json.loads(answer["tool_calls"]) == []
    assert call["output"] is None
    assert json.loads(call["tool_calls"]) == [{"name": "cancel_order", "arguments": {"order_id": "77"}}]
    assert (call["input_tokens"], call["output_tokens"], call["cached_input_tokens"]) == (58, 17, 32)


def test_batch_output_without_its_input_says_why(store: Store) -> None:
    with pytest.raises(IngestError, match="without the input file"):
        ingest(store, [VLLM_RESULTS], "alone", progress=False)


def test_chat_log_with_several_choices_keeps_them(store: Store) -> None:
    """n > 1: the first choice is the captured answer; the others are kept in metadata, and the
    usage (which covers every choice) is stated once, not split or repeated."""
    ingest(store, [FIXTURES / "openai_chat" / "n_choices.jsonl"], "n2", progress=False)
    request = store.requests("n2").row(0, named=True)
    assert json.loads(request["metadata"]) == {"n_choices": 2, "other_choices": [
        {"output": "Ticket Tamer", "tool_calls": []}]}
    row = store.captured("n2").row(0, named=True)
    assert (row["output"], row["input_tokens"], row["output_tokens"], row["latency_ms"]) == ("HelpHub", 14, 9, 640.0)


@pytest.mark.parametrize("compress", [False, True])
def test_a_lone_surrogate_sets_its_line_aside_not_the_ingest(store: Store, tmp_path: Path, compress: bool) -> None:
    """`\\ud83d` alone parses as JSON but is no character: that line is quarantined, the rest ingested."""
    lines = CHAT.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["request"]["messages"][-1]["content"] = "hi \ud83d there"
    data = ("\n".join([json.dumps(first), *lines[1:]]) + "\n").encode()
    path = tmp_path / ("chat.jsonl.gz" if compress else "chat.jsonl")
    path.write_bytes(gzip.compress(data) if compress else data)
    whole = ingest(store, [CHAT], "whole", fmt="openai_chat", progress=False)
    summary = ingest(store, [path], "s", fmt="openai_chat", progress=False)
    assert summary.n_requests == whole.n_requests - 1
    assert summary.n_quarantined == whole.n_quarantined + 1
    quarantined = store.quarantine("s")
    assert "surrogate" in quarantined.filter(quarantined["line"] == 1)["reason"][0]
