"""Replay through an agent that fails in every way an HTTP endpoint can (tests/faults.py).

One large seeded run (400 requests, 2,000 with HARNESS_STRESS=1) checks the whole picture
at once: the run completes in bounded time, every planned response is written exactly once
with the error its fault calls for, attempts agree with what the server saw, Retry-After is
waited, and 20 MB answers are refused at the limit without being buffered. A cheap run per
fault checks the details, and regression tests pin the defects this file found.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import pytest
from aiohttp import web

from harness.agents import http as http_agent
from harness.agents._http import parse_retry_after
from harness.agents.base import AgentContext, CallContext
from harness.agents.http import HttpAgent, HttpAgentConfig, HttpResponseMap
from harness.config import parse_config
from harness.errors import (
    AgentBadResponse,
    AgentCancelled,
    AgentConnectionError,
    AgentError,
    AgentHTTPError,
    AgentTimeout,
)
from harness.ingest import ingest
from harness.records import AgentResult, Request
from harness.replay import ReplaySummary, repeat_selected, replay
from harness.retry import Attempted, RetryPolicy, call_with_retries
from harness.store import Store
from tests.conftest import write_jsonl
from tests.faults import ARMS, FAULTS, WRONG_SHAPES, FaultServer, agents_config, answer_for, expected, fault_records
from tests.servers import serve

STRESS = os.environ.get("HARNESS_STRESS") == "1"
N_REQUESTS = 2000 if STRESS else 400
SEED = 7
SETTINGS: dict[str, Any] = {
    "dataset": "faults", "concurrency": 32, "timeout_s": 1.5, "max_attempts": 3, "backoff_base_s": 0.02,
    "backoff_max_s": 0.2, "max_retry_after_s": 1, "flush_interval_s": 0.2, "prod_repeat_fraction": 0, "seed": 0,
    "preflight": False,  # the server's attempt counts must be the replay's alone
}  # fmt: skip
MAX_ATTEMPTS: int = SETTINGS["max_attempts"]
SLOW_FAULTS = {name for name, fault in FAULTS.items() if fault.error_type == "timeout"}
RETRY_AFTER_FAULTS = ("retry_after", "rate_limited")
DEFAULT_LIMIT: int = HttpAgentConfig.model_fields["max_response_bytes"].default
MESSAGES = {
    "timeout": f"no answer within {SETTINGS['timeout_s']}s",
    "hang": f"no answer within {SETTINGS['timeout_s']}s",
    "trickle": f"no answer within {SETTINGS['timeout_s']}s",
    "rate_limited": "HTTP 429",
    "rate_limited_no_header": "HTTP 429",
    "status_500": "HTTP 500",
    "status_502": "HTTP 502",
    "status_503": "HTTP 503",
    "malformed_json": "invalid JSON",
    "truncated_json": "invalid JSON",
    "reset": "ClientPayloadError",
    "huge": "exceeds max_response_bytes (",
    "invalid_utf8": "invalid UTF-8",
    "says_cancelled": "the upstream model cancelled it",
    "lone_surrogate": "output is not valid Unicode",
    "deep_arguments": "nested too deep",
}
"""A fragment of the recorded error_message per failing fault (wrong_shape: see SHAPE_MESSAGES)."""
SHAPE_MESSAGES = {
    "number_output": "output must be a string",
    "string_tool_calls": "tool_calls must be a list",
    "scalar_document": "expected a JSON object, got int",
}


class PeakRss:
    """Samples this process's resident memory in a thread; `growth` is the peak over the start, in bytes."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self._interval_s = interval_s
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._start = self._peak = self._rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self._peak - self._start

    def _rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self._page

    def _sample(self) -> None:
        while not self._done.wait(self._interval_s):
            self._peak = max(self._peak, self._rss())


def replay_through(
    tmp_path: Path, base: str, records: list[dict[str, Any]], arms: tuple[str, ...] = ARMS, **overrides: Any
) -> tuple[Store, ReplaySummary]:
    """Ingest `records` and replay them through the fault server at `base`, one path per arm."""
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records)], "faults", progress=False)
    agent_options = (
        {"max_response_bytes": overrides.pop("max_response_bytes")} if "max_response_bytes" in overrides else {}
    )
    config = parse_config({"replay": SETTINGS | overrides, "agents": agents_config(base, arms, **agent_options)})
    return store, replay(config, store=store, progress=False)


def worst_case_s(fault: str, server: FaultServer) -> float:
    """The longest one call with this fault may keep a worker busy under SETTINGS."""
    attempts, waits = MAX_ATTEMPTS, MAX_ATTEMPTS - 1
    if fault in SLOW_FAULTS:
        return attempts * SETTINGS["timeout_s"] + waits * SETTINGS["backoff_max_s"]
    return waits * max(server.retry_after_s, SETTINGS["backoff_max_s"]) + attempts * 0.05


def assert_rows_match_faults(store: Store, run_id: str, server: FaultServer, records: list[dict[str, Any]]) -> None:
    """Each row has its fault's error type, message and exact attempts, which the server saw too."""
    metadata = {r["request_id"]: r["metadata"] for r in records}
    for row in store.responses(run_id).iter_rows(named=True):
        rid, arm, meta = row["request_id"], row["arm"], metadata[row["request_id"]]
        error_type, attempts = expected(meta, MAX_ATTEMPTS)
        where = f"{rid} on {arm} ({meta})"
        assert (row["error_type"], row["attempts"]) == (error_type, attempts), where
        assert row["attempts"] in FAULTS[meta["fault"]].attempts(MAX_ATTEMPTS), where
        assert server.attempts(rid, arm) == row["attempts"], where
        if error_type is None:
            answer = answer_for(rid, arm)
            assert row["output"] == answer["output"], where
            assert row["n_tool_calls"] == 1 and row["input_tokens"] == 12, where
            assert row["latency_ms"] is not None and row["error_message"] is None, where
            assert (row["cost_usd"] is None and row["output_tokens"] is None) == (meta["fault"] == "bad_numbers"), where
            assert (row["invalid_values"] is not None) == (meta["fault"] == "bad_numbers"), where
        else:
            fragment = SHAPE_MESSAGES[meta["shape"]] if meta["fault"] == "wrong_shape" else MESSAGES[meta["fault"]]
            assert fragment in row["error_message"], (where, row["error_message"])
            assert row["output"] is None, where
        assert not row["harness_cancelled"], where  # the agent's own "cancelled" is an error like any other


def assert_retry_after_waited(server: FaultServer, records: list[dict[str, Any]]) -> int:
    """Every retry after a 429 with Retry-After came at least that long after the 429 was sent (a
    loaded machine only makes the gap longer); returns the gaps checked."""
    checked = 0
    for record in records:
        if record["metadata"]["fault"] not in RETRY_AFTER_FAULTS:
            continue
        for (rid, arm), times in server.arrivals.items():
            if rid == record["request_id"]:
                for replied, retried in zip(server.replied[(rid, arm)], times[1:], strict=False):
                    assert retried - replied >= server.retry_after_s, (rid, times)
                    checked += 1
    return checked


def test_a_large_replay_through_every_fault_completes_exactly_and_in_bounded_time(tmp_path: Path) -> None:
    """Every fault spread over N_REQUESTS requests on prod, candidate and half of them prod_repeat."""
    arms = (*ARMS, "prod_repeat")
    records = fault_records(N_REQUESTS, seed=SEED, max_attempts=MAX_ATTEMPTS)
    # answers over a 1 MB limit (not 10 MB: reading that much within the timeout is a race
    # on a loaded machine, and the limit is what is tested here)
    server = FaultServer(huge_bytes=3_000_000)
    with serve(server.app, shutdown_timeout=0.1) as base, PeakRss() as memory:
        started = time.monotonic()
        store, summary = replay_through(tmp_path, base, records, arms, prod_repeat_fraction=0.5,
                                        max_response_bytes=1_000_000)
        elapsed = time.monotonic() - started
    run_id = summary.run_id

    # no crash, the run completed, and it took about what its faults cost, spread over the workers
    assert summary.status == "completed" and store.run(run_id)["status"] == "completed"
    selected = {r["request_id"] for r in records if repeat_selected(SETTINGS["seed"], r["request_id"], 0.5)}
    calls = [(r, arm) for r in records for arm in arms if arm != "prod_repeat" or r["request_id"] in selected]
    bound = sum(worst_case_s(r["metadata"]["fault"], server) for r, _ in calls) / SETTINGS["concurrency"] + 10
    assert elapsed < bound, f"{elapsed:.1f}s for {len(calls)} calls (bound {bound:.1f}s)"

    # exactly one row per planned (request, arm, sample), and nothing else
    n_planned = store.run(run_id)["n_planned"]
    assert n_planned == len(calls) == summary.n_done
    counts = store.sql(
        "SELECT request_id, arm, sample, count(*) AS n FROM responses WHERE run_id = ? GROUP BY ALL", [run_id]
    )
    assert counts.height == n_planned and set(counts["n"].to_list()) == {1}
    assert set(zip(counts["request_id"], counts["arm"], strict=True)) == {(r["request_id"], a) for r, a in calls}

    # each row is what its fault calls for; the server saw the same attempts and never too many
    assert_rows_match_faults(store, run_id, server, records)
    assert max(len(times) for times in server.arrivals.values()) <= MAX_ATTEMPTS
    assert set(server.arrivals) == {(r["request_id"], a) for r, a in calls}
    assert assert_retry_after_waited(server, records) > 0

    # the 20 MB answers were refused at the limit (their rows say so): a worker holds at most the
    # limit, and the allocator may keep as much again; test_huge_answers_... checks it closely
    assert any(r["metadata"]["fault"] == "huge" for r, _ in calls)
    assert memory.growth < 2 * SETTINGS["concurrency"] * DEFAULT_LIMIT + 100_000_000, memory.growth


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_recorded_exactly(tmp_path: Path, fault: str) -> None:
    """Four requests of one fault, `times` and shapes varied, on two arms."""
    shapes = list(WRONG_SHAPES)
    records = [
        {"request_id": f"{fault}-{i}", "input": "q",
         "metadata": {"fault": fault, "times": 1 + i % (MAX_ATTEMPTS - 1), "shape": shapes[i % len(shapes)]}}
        for i in range(4)
    ]  # fmt: skip
    server = FaultServer()
    with serve(server.app, shutdown_timeout=0.1) as base:
        store, summary = replay_through(tmp_path, base, records, concurrency=8)
    assert summary.status == "completed" and summary.n_done == 2 * len(records)
    assert_rows_match_faults(store, summary.run_id, server, records)
    assert (assert_retry_after_waited(server, records) > 0) == (fault in RETRY_AFTER_FAULTS)


def test_huge_answers_are_refused_without_buffering_them(tmp_path: Path) -> None:
    """Eight 20 MB answers read at once against a 1 MB limit: memory grows by about the limits, not the answers."""
    records = [{"request_id": f"huge-{i}", "input": "q", "metadata": {"fault": "huge"}} for i in range(4)]
    server = FaultServer()
    with serve(server.app, shutdown_timeout=0.1) as base, PeakRss() as memory:
        store, summary = replay_through(tmp_path, base, records, concurrency=8, max_response_bytes=1_000_000)
    rows = store.responses(summary.run_id)
    assert rows.height == 8 and set(rows["error_type"]) == {"bad_response"}
    assert all("exceeds max_response_bytes (1000000)" in m for m in rows["error_message"])
    assert memory.growth < 60_000_000, memory.growth  # 8 answers buffered whole would be 160 MB


# ---- regressions --------------------------------------------------------------------------

POLICY = RetryPolicy(timeout_s=2, max_attempts=3, backoff_base_s=0.01, max_retry_after_s=1)


def attempted(reply: Callable[[], web.Response], **options: Any) -> tuple[Attempted[AgentResult], int]:
    """One call of an http agent, with POLICY's retries, to a server answering `reply()` every
    time; also how many requests the server got."""
    seen = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal seen
        seen += 1
        await request.read()
        return reply()

    async def once(url: str) -> Attempted[AgentResult]:
        agent = HttpAgent(HttpAgentConfig(kind="http", url=url, **options), AgentContext(concurrency=1))
        await agent.start()
        try:
            return await call_with_retries(
                lambda: agent.call(Request(request_id="r", input="q"), CallContext()), POLICY, rng=random.Random(0)
            )
        finally:
            await agent.close()

    app = web.Application()
    app.router.add_post("/", handle)
    with serve(app) as base:
        outcome = asyncio.run(once(base + "/"))
    return outcome, seen


@pytest.mark.parametrize(
    ("document", "kind"), [(b"42", "int"), (b'"fine"', "str"), (b"null", "NoneType"), (b'[{"output": "x"}]', "list")]
)
def test_regression_an_answer_that_is_not_a_json_object_is_a_bad_response(document: bytes, kind: str) -> None:
    """It used to be recorded as a success with no output, every field read as missing."""
    outcome, seen = attempted(lambda: web.Response(body=document, content_type="application/json"))
    assert isinstance(outcome.error, AgentBadResponse) and (outcome.attempts, seen) == (1, 1)
    assert f"expected a JSON object, got {kind}" in str(outcome.error)


@pytest.mark.parametrize(
    ("document", "mapping"), [(b'"fine"', {"output": "$"}), (b'[{"output": "fine"}]', {"output": "0.output"})]
)
def test_answers_the_configured_paths_can_read_are_still_accepted(document: bytes, mapping: dict[str, str]) -> None:
    """The fix above refuses only what no path can read: "$" reads anything, a leading index a list."""
    outcome, _ = attempted(
        lambda: web.Response(body=document, content_type="application/json"), response=HttpResponseMap(**mapping)
    )
    assert outcome.error is None and outcome.value is not None and outcome.value.output == "fine"


def test_regression_an_endless_retry_after_is_over_the_limit_not_absent() -> None:
    """A Retry-After too large for a float used to read as no header: retried at once with backoff."""
    endless = "1" + "0" * 400
    assert parse_retry_after(endless) == math.inf
    outcome, seen = attempted(lambda: web.json_response({}, status=429, headers={"Retry-After": endless}))
    assert outcome.error is not None and outcome.error.error_type == "rate_limited"
    assert (outcome.attempts, seen) == (1, 1)
    assert "over the 1s limit" in str(outcome.error)


def test_regression_a_stuck_handshake_is_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's connect timeout is also a TimeoutError, so it used to be recorded as a slow agent."""

    async def first_error(url: str) -> AgentError:
        agent = HttpAgent(HttpAgentConfig(kind="http", url=url), AgentContext(concurrency=1))
        await agent.start()
        try:
            with pytest.raises(AgentError) as info:
                await asyncio.wait_for(agent.call(Request(request_id="r", input="q"), CallContext()), 5)
            return info.value
        finally:
            await agent.close()

    monkeypatch.setattr(http_agent, "CONNECT_TIMEOUT_S", 0.2)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = [socket.socket() for _ in range(3)]  # fill the accept queue: later handshakes stall
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(listener.getsockname())
            error = asyncio.run(first_error("http://{}:{}/".format(*listener.getsockname())))
        finally:
            for filler in fillers:
                filler.close()
    assert isinstance(error, AgentConnectionError) and "ConnectionTimeoutError" in str(error)


def test_regression_a_stop_during_the_wait_starts_no_retry_and_cancels() -> None:
    """A stop during a Retry-After wait used to let the wait run out and start another attempt."""
    calls = 0

    async def busy() -> AgentResult:
        nonlocal calls
        calls += 1
        raise AgentHTTPError(503, "busy", retry_after=60.0)

    async def scenario() -> tuple[Attempted[AgentResult], float]:
        started = time.monotonic()
        stop_at = started + 0.2
        policy = RetryPolicy(max_retry_after_s=120, max_attempts=3)
        outcome = await call_with_retries(
            busy, policy, rng=random.Random(0), stopping=lambda: time.monotonic() > stop_at
        )
        return outcome, time.monotonic() - started

    outcome, elapsed = asyncio.run(scenario())
    assert (calls, outcome.attempts) == (1, 1) and elapsed < 30  # the 60 s wait was cut short by the stop
    assert isinstance(outcome.error, AgentCancelled) and "HTTP 503: busy" in str(outcome.error)


@pytest.mark.parametrize(("error", "max_attempts", "recorded"), [
    (AgentTimeout("slow"), 3, "cancelled"),  # would have been retried: redo it on resume
    (AgentTimeout("slow"), 1, "timeout"),  # final anyway
    (AgentBadResponse("garbage"), 3, "bad_response"),  # never retried
])  # fmt: skip
def test_regression_a_failure_that_would_be_retried_while_stopping_is_cancelled(
    error: AgentError, max_attempts: int, recorded: str
) -> None:
    """Stopping used to make a retryable failure final, so a resumed run kept it as an error."""

    async def failing() -> AgentResult:
        raise error

    policy = RetryPolicy(max_attempts=max_attempts, backoff_base_s=0)
    outcome = asyncio.run(call_with_retries(failing, policy, rng=random.Random(0), stopping=lambda: True))
    assert outcome.error is not None and (outcome.error.error_type, outcome.attempts) == (recorded, 1)
