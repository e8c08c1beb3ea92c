"""The demo data: a deterministic, realistic captured log, and two agents whose differences are planted."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from harness.demo.agents import INTENTS, candidate_v2, prod_v1
from harness.demo.generator import generate_records, write_log
from harness.records import Request

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample_support.jsonl"
PRICES = {"gpt-4.1": (2.0, 8.0, 0.5), "gpt-4.1-mini": (0.4, 1.6, 0.1)}  # USD per 1M input / output / cached


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return generate_records()


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_DEMO_LATENCY_SCALE", "0")


def _requests(records: list[dict[str, Any]], intent: str, n: int) -> list[Request]:
    """The first n requests of an intent whose conversation holds an order number or is not about orders."""
    out = []
    for r in records:
        if r["metadata"]["intent"] != intent:
            continue
        if intent in ("product_question", "account_help") or re.search(r"\d{6}", json.dumps(r["input"])):
            out.append(Request(r["request_id"], r["input"], r["user_id"], r["session_id"], metadata=r["metadata"]))
        if len(out) == n:
            return out
    return out


def _run(agent: Any, requests: list[Request]) -> list[dict[str, Any] | None]:
    """The agent's answers; None where it failed in its documented way."""

    async def one(request: Request) -> dict[str, Any] | None:
        try:
            return await agent(request)
        except RuntimeError as exc:
            assert str(exc) == "upstream tool timeout"
            return None

    async def every() -> list[dict[str, Any] | None]:
        return await asyncio.gather(*(one(r) for r in requests))

    return asyncio.run(every())


def _cost(answer: dict[str, Any]) -> float:
    price_in, price_out, price_cached = PRICES[answer["model"]]
    usage = answer["usage"]
    cached = usage["cached_input_tokens"]
    return ((usage["input_tokens"] - cached) * price_in + usage["output_tokens"] * price_out
            + cached * price_cached) / 1e6


def _tools(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], json.dumps(c["arguments"], sort_keys=True)) for c in answer["tool_calls"]]


# --- the generator --------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = write_log(tmp_path / "a.jsonl", n_requests=300, seed=11)
    second = write_log(tmp_path / "b.jsonl", n_requests=300, seed=11)
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_text().splitlines()
    assert len(lines) == 300
    stamps = [json.loads(line)["timestamp"] for line in lines]
    assert stamps == sorted(stamps)


def test_default_log_is_reproducible_and_seed_matters(records: list[dict[str, Any]]) -> None:
    assert generate_records() == records
    assert generate_records(seed=8) != records


def test_log_has_realistic_volume_and_spread(records: list[dict[str, Any]]) -> None:
    assert len(records) >= 1000
    assert len({r["request_id"] for r in records}) == len(records)
    assert len({r["user_id"] for r in records}) >= 200
    times = [datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) for r in records]
    assert all(r["timestamp"].endswith("Z") for r in records)
    assert (max(times) - min(times)).days >= 3
    by_hour = Counter(t.hour for t in times)
    assert by_hour[19] > 3 * by_hour[3]  # evenings busy, nights quiet
    sessions = Counter(r["session_id"] for r in records)
    assert sum(n > 1 for n in sessions.values()) >= 50


def test_every_record_is_canonical(records: list[dict[str, Any]]) -> None:
    assert all(r["request_id"] and r["input"] for r in records)
    assert {r["metadata"]["intent"] for r in records} == set(INTENTS)
    for r in records:
        meta = r["metadata"]
        assert meta["tier"] in ("free", "pro", "enterprise")
        assert meta["channel"] and meta["locale"]
        assert set(meta["flags"]) == {"new-checkout", "priority-support"}
        assert r["captured"]["variant"] == "prod" and r["captured"]["model"] == "gpt-4.1"
    chats = [r["input"] for r in records if isinstance(r["input"], dict)]
    assert 0.1 < len(chats) / len(records) < 0.5
    assert any(len(c["messages"]) >= 3 and c["messages"][-1]["role"] == "user" for c in chats)


def test_references_and_captured_errors(records: list[dict[str, Any]]) -> None:
    references = [r["reference"] for r in records if "reference" in r]
    assert 0.2 <= len(references) / len(records) <= 0.4
    assert any(isinstance(ref, str) for ref in references)
    assert any(isinstance(ref, dict) and ref["tool_calls"] for ref in references)
    failed = [r["captured"] for r in records if r["captured"]["error"] is not None]
    assert 0 < len(failed) / len(records) < 0.05
    assert all(c["output"] is None for c in failed)
    ok = [r["captured"] for r in records if r["captured"]["error"] is None]
    assert all(c["output"] and c["cost_usd"] > 0 and c["latency_ms"] > 0 for c in ok)


def test_sample_dataset_is_the_generators_output(tmp_path: Path) -> None:
    fresh = write_log(tmp_path / "sample.jsonl", n_requests=60)
    assert SAMPLE.read_bytes() == fresh.read_bytes()


# --- the agents -----------------------------------------------------------------------


def test_agents_answer_in_the_canonical_shape(records: list[dict[str, Any]]) -> None:
    requests = [r for intent in INTENTS for r in _requests(records, intent, 8)]
    for agent in (prod_v1, candidate_v2):
        answers = [a for a in _run(agent, requests) if a is not None]
        assert len(answers) >= 0.9 * len(requests)
        for answer in answers:
            assert isinstance(answer["output"], str) and answer["output"].strip()
            assert all(set(c) >= {"name", "arguments"} for c in answer["tool_calls"])
            assert 500 <= answer["usage"]["input_tokens"] <= 1500
            assert 40 <= answer["usage"]["output_tokens"] <= 250
        assert {a["model"] for a in answers} == {"gpt-4.1" if agent is prod_v1 else "gpt-4.1-mini"}


def test_prod_issues_refunds_and_the_candidate_mostly_deflects(records: list[dict[str, Any]]) -> None:
    refunds = _requests(records, "refund_request", 40)
    assert len(refunds) == 40
    prod = [a for a in _run(prod_v1, refunds) if a is not None]
    assert all("issue_refund" in [c["name"] for c in a["tool_calls"]] for a in prod)
    candidate = [a for a in _run(candidate_v2, refunds) if a is not None]
    refunded = sum("issue_refund" in [c["name"] for c in a["tool_calls"]] for a in candidate)
    assert refunded <= 0.4 * len(candidate)
    assert any("support team" in a["output"] for a in candidate)


def test_candidate_matches_prod_tool_calls_on_other_intents(records: list[dict[str, Any]]) -> None:
    others = [r for intent in INTENTS if intent != "refund_request" for r in _requests(records, intent, 6)]
    pairs = zip(_run(prod_v1, others), _run(candidate_v2, others), strict=True)
    assert all(_tools(p) == _tools(c) for p, c in pairs if p is not None and c is not None)


def test_candidate_is_cheaper(records: list[dict[str, Any]]) -> None:
    requests = [r for intent in INTENTS for r in _requests(records, intent, 8)]
    prod = [_cost(a) for a in _run(prod_v1, requests) if a is not None]
    candidate = [_cost(a) for a in _run(candidate_v2, requests) if a is not None]
    assert sum(candidate) / len(candidate) < 0.5 * sum(prod) / len(prod)


def test_prod_repeats_its_actions_but_not_its_words(records: list[dict[str, Any]]) -> None:
    requests = [r for intent in INTENTS for r in _requests(records, intent, 6)]
    pairs = [
        (a, b)
        for a, b in zip(_run(prod_v1, requests), _run(prod_v1, requests), strict=True)
        if a is not None and b is not None
    ]
    assert len(pairs) >= 30
    assert all(_tools(a) == _tools(b) for a, b in pairs)
    assert any(a["output"] != b["output"] for a, b in pairs)
