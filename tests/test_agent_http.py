"""The `http` agent against a real aiohttp server on loopback: bodies, headers, mapping, faults."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any

import pytest
from aiohttp import web

from harness.agents.base import AgentContext, CallContext
from harness.agents.http import HttpAgent, HttpAgentConfig, HttpResponseMap
from harness.errors import (
    AgentBadResponse,
    AgentConnectionError,
    AgentHTTPError,
    ConfigError,
)
from harness.records import AgentResult, Request, ToolCall, Usage
from tests.servers import serve, unused_port

REQUEST = Request(
    request_id="r-1",
    input="Where is my order 1234?",
    user_id="u-42",
    session_id="s-9",
    timestamp=datetime(2026, 11, 20, 10, 15, tzinfo=timezone.utc),
    metadata={"intent": "order_status", "flags": {"beta": True}, "tier": "pro"},
    reference="shipped",
)
ANSWER = {
    "output": "It shipped.",
    "tool_calls": [{"name": "lookup_order", "arguments": {"id": "1234"}, "result": {"status": "shipped"}}],
    "usage": {"input_tokens": 812, "output_tokens": 95, "cached_input_tokens": 12},
    "cost_usd": 0.0021,
    "model": "gpt-4.1",
}


class Recorder:
    """An app whose POST / answers with a scripted handler and remembers what it received."""

    def __init__(self, reply: Any) -> None:
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self._reply = reply
        self.app = web.Application()
        self.app.router.add_post("/", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.headers.append(dict(request.headers))
        self.bodies.append(json.loads(await request.read()))
        if callable(self._reply):
            return await self._reply(request)
        return web.json_response(self._reply)


def agent_for(url: str, **options: Any) -> HttpAgent:
    return HttpAgent(HttpAgentConfig(kind="http", url=url, **options), AgentContext(concurrency=4))


async def call_once(agent: HttpAgent, request: Request = REQUEST) -> AgentResult:
    await agent.start()
    try:
        return await agent.call(request, CallContext())
    finally:
        await agent.close()


def call(url: str, request: Request = REQUEST, **options: Any) -> AgentResult:
    return asyncio.run(call_once(agent_for(url, **options), request))


def failure(url: str, **options: Any) -> Exception:
    with pytest.raises(Exception) as info:
        call(url, **options)
    return info.value


def replying(status: int, body: bytes | str, **headers: str) -> Any:
    async def reply(_request: web.Request) -> web.Response:
        data = body.encode() if isinstance(body, str) else body
        return web.Response(status=status, body=data, headers=headers)

    return reply


def test_default_body_is_the_canonical_request_and_answer_is_canonical() -> None:
    server = Recorder(ANSWER)
    with serve(server.app) as url:
        result = call(url)
    assert server.bodies == [REQUEST.to_dict()]
    assert server.headers[0]["Content-Type"] == "application/json"
    assert result.output == "It shipped."
    assert result.tool_calls == (ToolCall("lookup_order", {"id": "1234"}, {"status": "shipped"}),)
    assert result.usage == Usage(812, 95, 12)
    assert result.cost_usd == 0.0021
    assert result.model == "gpt-4.1"
    assert result.ok


def test_body_template_keeps_types_for_whole_values_and_interpolates_text() -> None:
    body = {
        "question": "{{text}}",
        "messages": "{{messages}}",
        "intent": "{{ metadata.intent }}",
        "beta": "{{metadata.flags.beta}}",
        "absent": "{{metadata.nope.deeper}}",
        "note": "user {{user_id}} ({{metadata.tier}}) asks {{input}} with {{metadata.flags}} at {{timestamp}}",
        "ids": ["{{request_id}}", "{{session_id}}", 7, None],
        "first": "{{messages.0.content}}",
        "whole": "{{request}}",
        "constant": {"stream": False, "n": [1, 2]},
    }
    server = Recorder(ANSWER)
    with serve(server.app) as url:
        call(url, body=body)
    assert server.bodies == [
        {
            "question": "Where is my order 1234?",
            "messages": [{"role": "user", "content": "Where is my order 1234?"}],
            "intent": "order_status",
            "beta": True,
            "absent": None,
            "note": 'user u-42 (pro) asks Where is my order 1234? with {"beta": true} at 2026-11-20T10:15:00+00:00',
            "ids": ["r-1", "s-9", 7, None],
            "first": "Where is my order 1234?",
            "whole": REQUEST.to_dict(),
            "constant": {"stream": False, "n": [1, 2]},
        }
    ]


def test_unknown_placeholder_is_a_config_error_at_construction() -> None:
    with pytest.raises(ConfigError, match=r"\{\{inputs\}\} at body\.q\[1\]"):
        agent_for("http://127.0.0.1:1/", body={"q": ["ok", "{{inputs}}"]})


def test_header_env_vars_are_expanded_and_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TEST_TOKEN", "tok-secret-123")
    server = Recorder(ANSWER)
    with serve(server.app) as url:
        call(url, headers={"Authorization": "Bearer ${HARNESS_TEST_TOKEN}", "X-Team": "evals"})
    assert server.headers[0]["Authorization"] == "Bearer tok-secret-123"
    assert server.headers[0]["X-Team"] == "evals"


def test_missing_header_env_var_is_a_config_error_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_TEST_UNSET", raising=False)
    agent = agent_for("http://127.0.0.1:1/", headers={"Authorization": "Bearer ${HARNESS_TEST_UNSET}"})
    with pytest.raises(ConfigError, match="HARNESS_TEST_UNSET"):
        asyncio.run(agent.start())


def test_custom_response_mapping_with_list_indexes() -> None:
    answer = {
        "choices": [
            {
                "message": {
                    "content": "Shipped.",
                    "tool_calls": [{"function": {"name": "lookup_order", "arguments": '{"id": "1234"}'}}],
                }
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "details": [{"cached": 4}]},
        "meta": {"engine": "m-1", "price": 0.5},
    }
    response = HttpResponseMap(
        output="choices.0.message.content",
        tool_calls="choices.0.message.tool_calls",
        input_tokens="usage.prompt_tokens",
        output_tokens="usage.completion_tokens",
        cached_input_tokens="usage.details.0.cached",
        cost_usd="meta.price",
        model="meta.engine",
        error="choices.5.error",
    )
    with serve(Recorder(answer).app) as url:
        result = call(url, response=response)
    assert result.output == "Shipped."
    assert result.tool_calls == (ToolCall("lookup_order", {"id": "1234"}),)
    assert result.usage == Usage(10, 3, 4)
    assert (result.cost_usd, result.model, result.error_type) == (0.5, "m-1", None)


def test_dollar_path_is_the_whole_document() -> None:
    with serve(Recorder("just text").app) as url:
        result = call(url, response=HttpResponseMap(output="$"))
    assert result.output == "just text"
    assert result.usage == Usage()


def test_agent_reported_error_is_recorded_not_raised() -> None:
    with serve(Recorder({"output": None, "error": {"type": "tool_failed", "message": "db down"}}).app) as url:
        result = call(url)
    assert (result.error_type, result.error_message) == ("tool_failed", "db down")


def test_rate_limit_carries_status_snippet_and_retry_after_seconds() -> None:
    server = Recorder(replying(429, "slow   down\n please " + "x" * 500, **{"Retry-After": "7"}))
    with serve(server.app) as url:
        error = failure(url)
    assert isinstance(error, AgentHTTPError)
    assert (error.status, error.error_type, error.retryable, error.retry_after) == (429, "rate_limited", True, 7.0)
    assert str(error).startswith("HTTP 429: slow down please xxx")
    assert len(str(error)) <= len("HTTP 429: ") + 200


def test_server_error_with_http_date_retry_after() -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    with serve(Recorder(replying(503, "", **{"Retry-After": when})).app) as url:
        error = failure(url)
    assert isinstance(error, AgentHTTPError)
    assert (error.status, error.error_type, error.retryable) == (503, "http_error", True)
    assert error.retry_after is not None and 25 <= error.retry_after <= 31
    assert "Service Unavailable" in str(error)


def test_client_error_without_retry_after_is_not_retryable() -> None:
    with serve(Recorder(replying(400, '{"error": "bad field"}')).app) as url:
        error = failure(url)
    assert isinstance(error, AgentHTTPError)
    assert (error.status, error.retryable, error.retry_after) == (400, False, None)


def test_header_values_never_reach_error_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TEST_TOKEN", "tok-secret-123")

    async def echo_auth(request: web.Request) -> web.Response:
        return web.Response(status=401, text=f"bad credentials: {request.headers['Authorization']}")

    with serve(Recorder(echo_auth).app) as url:
        error = failure(url, headers={"Authorization": "Bearer ${HARNESS_TEST_TOKEN}"})
    assert isinstance(error, AgentHTTPError)
    assert "tok-secret-123" not in str(error)
    assert "bad credentials" in str(error)


def test_response_over_the_size_limit_is_refused() -> None:
    with serve(Recorder({"output": "x" * 1000}).app) as url:
        error = failure(url, max_response_bytes=100)
    assert isinstance(error, AgentBadResponse)
    assert "max_response_bytes (100)" in str(error)


def test_chunked_response_over_the_size_limit_is_refused() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(20):
            await response.write(b'{"output": "' + b"x" * 100)
        await response.write_eof()
        return response

    with serve(Recorder(chunked).app) as url:
        error = failure(url, max_response_bytes=500)
    assert isinstance(error, AgentBadResponse)
    assert "max_response_bytes (500)" in str(error)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"output": "caf\xe9"}', "invalid UTF-8"),
        (b'{"output": "unterminated', "invalid JSON"),
        (b'{"output": 42}', "output must be a string"),
    ],
)
def test_garbage_answers_are_bad_responses(body: bytes, message: str) -> None:
    with serve(Recorder(replying(200, body, **{"Content-Type": "application/json"})).app) as url:
        error = failure(url)
    assert isinstance(error, AgentBadResponse)
    assert message in str(error)


@pytest.mark.parametrize(("body", "invalid"), [
    (b'{"output": "ok", "usage": {"input_tokens": -1}}', "usage.input_tokens=-1 (negative)"),
    (b'{"output": "ok", "cost_usd": -1000}', "cost_usd=-1000 (negative)"),
    (b'{"output": "ok", "cost_usd": 1e300}', "cost_usd=1e+300 (above the bound of 1,000)"),
    (b'{"output": "ok", "cost_usd": "Infinity"}', "cost_usd='Infinity' (not a number)"),
    (b'{"output": "ok", "usage": {"output_tokens": 1180591620717411303424}}', "usage.output_tokens=1180591620717411303424"),
])  # fmt: skip
def test_numbers_an_agent_reports_that_cannot_be_believed_are_kept_out(body: bytes, invalid: str) -> None:
    """The answer stands; the number is left empty and described, never used (budget, gates)."""
    with serve(Recorder(replying(200, body, **{"Content-Type": "application/json"})).app) as url:
        result = call(url)
    assert result.output == "ok" and result.cost_usd is None
    assert any(item.startswith(invalid) for item in result.invalid), result.invalid


def test_connection_refused() -> None:
    error = failure(f"http://127.0.0.1:{unused_port()}/")
    assert isinstance(error, AgentConnectionError)
    assert error.retryable


def test_server_dropping_the_connection() -> None:
    async def drop(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response()

    with serve(Recorder(drop).app) as url:
        error = failure(url)
    assert isinstance(error, AgentConnectionError)


def test_truncated_body_is_a_connection_error() -> None:
    async def truncated(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b'{"output": "')
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()
        return response

    with serve(Recorder(truncated).app) as url:
        error = failure(url)
    assert isinstance(error, AgentConnectionError)


def test_cancelled_call_leaves_the_agent_usable() -> None:
    calls = 0

    async def hang_first(_request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(30)
        return web.json_response({"output": "second"})

    async def scenario(url: str) -> AgentResult:
        agent = agent_for(url)
        await agent.start()
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(agent.call(REQUEST, CallContext()), timeout=0.2)
            return await agent.call(REQUEST, CallContext())
        finally:
            await agent.close()

    with serve(Recorder(hang_first).app) as url:
        result = asyncio.run(scenario(url))
    assert result.output == "second"


@pytest.mark.parametrize(("answer", "has"), [
    ({"text": "It shipped.", "usage": {"input_tokens": 3}}, "top-level keys 'text', 'usage'"),
    ({}, "no keys (an empty object)"),
    ({"output": None, "tool_calls": []}, "top-level keys 'output', 'tool_calls'"),
])  # fmt: skip
def test_answer_not_matching_the_response_mapping_is_a_bad_response(answer: Any, has: str) -> None:
    """Regression: such an answer was stored as a success with output NULL ("0 errors")."""
    with serve(Recorder(answer).app) as url:
        error = failure(url)
    assert isinstance(error, AgentBadResponse)
    assert "no output at 'output' and no tool calls at 'tool_calls'" in str(error)
    assert has in str(error)


def test_tool_calls_without_output_are_an_answer() -> None:
    with serve(Recorder({"tool_calls": ANSWER["tool_calls"]}).app) as url:
        result = call(url)
    assert result.output is None and result.tool_calls[0].name == "lookup_order"
