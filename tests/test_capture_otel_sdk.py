"""OpenTelemetry SDK span dumps written by the SDK itself: the console exporter's output and
`{"spans": [...]}` of `to_json()` objects; integer ids as frameworks keep them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.capture import sniff
from harness.ingest import ingest
from harness.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "otel_sdk"
SPANS = FIXTURES / "spans.json"


def _expected_trace() -> tuple[str, list[dict]]:
    spans = json.loads(SPANS.read_text())["spans"]
    return spans[0]["context"]["trace_id"].removeprefix("0x"), spans


@pytest.mark.parametrize("name", ["console.txt", "spans.json"])
def test_sdk_dump_is_one_request_per_trace(store: Store, name: str) -> None:
    path = FIXTURES / name
    assert sniff(path) == "otel_sdk"
    summary = ingest(store, [path], "sdk", progress=False)
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (1, 1, 0)
    trace_id, spans = _expected_trace()
    request = store.requests("sdk").row(0, named=True)
    assert request["request_id"] == trace_id
    assert (request["input_text"], request["user_id"]) == ("Where is my order 869021?", "u-0042")
    metadata = json.loads(request["metadata"])
    assert (metadata["service.version"], metadata["deployment.environment"]) == ("2.3.1", "canary")
    row = store.captured("sdk").row(0, named=True)
    assert row["output"] == "Your order 869021 shipped on 14 November with DHL."
    assert row["model"] == "gpt-4.1-2025-04-14"
    assert json.loads(row["tool_calls"]) == [{"name": "lookup_order", "arguments": {"order_id": "869021"},
                                              "result": {"status": "shipped", "carrier": "DHL"}}]
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (812 + 870, 21 + 38, None)
    assert row["cost_usd"] is None
    root = next(s for s in spans if s["parent_id"] is None)
    from datetime import datetime
    start, end = (datetime.fromisoformat(root[k]) for k in ("start_time", "end_time"))
    assert row["latency_ms"] == pytest.approx((end - start).total_seconds() * 1000, abs=0.001)


def test_integer_ids_and_variant_from_resource(store: Store, tmp_path: Path) -> None:
    """Frameworks that dump `span.context` keep ids as integers; --variant-from reads a resource attribute."""
    document = json.loads(SPANS.read_text())
    for span in document["spans"]:
        span["context"]["trace_id"] = int(span["context"]["trace_id"], 16)
        span["context"]["span_id"] = int(span["context"]["span_id"], 16)
        if span["parent_id"]:
            span["parent_id"] = int(span["parent_id"], 16)
    path = tmp_path / "int_ids.json"
    path.write_text(json.dumps(document))
    summary = ingest(store, [path], "ints", progress=False, variant_from="deployment.environment")
    assert summary.n_requests == 1
    trace_id, _ = _expected_trace()
    assert store.requests("ints")["request_id"].to_list() == [trace_id]
    row = store.captured("ints").row(0, named=True)
    assert (row["variant"], row["n_tool_calls"]) == ("canary", 1)
