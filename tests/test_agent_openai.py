"""The `openai` agent against a local OpenAI-compatible server with scripted answers."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from typing import Any

import pytest
from aiohttp import web

from harness.agents.base import AgentContext, CallContext
from harness.agents.openai_chat import OpenAIAgent, OpenAIAgentConfig
from harness.errors import (
    AgentBadResponse,
    AgentConnectionError,
    AgentError,
    AgentHTTPError,
    ConfigError,
)
from harness.records import AgentResult, Request, ToolCall, Usage
from tests.servers import serve, unused_port

KEY = "sk-test-very-secret-0123456789"
KEY_ENV = "HARNESS_TEST_OPENAI_KEY"


def completion(message: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-test-2026-01-01",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **message}}],
        "usage": usage,
    }


async def text(_request: web.Request) -> web.Response:
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 8,
        "total_tokens": 128,
        "prompt_tokens_details": {"cached_tokens": 64},
    }
    return web.json_response(completion({"content": "It shipped."}, usage))


async def tools(_request: web.Request) -> web.Response:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"id": "1234"}'}},
        {"id": "c2", "type": "custom", "custom": {"name": "grep", "input": "order 1234"}},
    ]
    return web.json_response(completion({"content": None, "tool_calls": calls}))


async def refusal(_request: web.Request) -> web.Response:
    return web.json_response(completion({"content": None, "refusal": "I can't help with that."}))


async def rate_limited(_request: web.Request) -> web.Response:
    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    return web.json_response(error, status=429, headers={"Retry-After": "3"})


async def rate_limited_until(_request: web.Request) -> web.Response:
    return web.json_response({"error": {"message": "later"}}, status=429, headers={"Retry-After": formatdate(time.time() + 20, usegmt=True)})


async def rate_limited_ms(_request: web.Request) -> web.Response:
    return web.json_response({"error": {"message": "soon"}}, status=429, headers={"retry-after-ms": "250"})


async def server_error(_request: web.Request) -> web.Response:
    return web.Response(status=500, text="upstream exploded")


async def echo_key(request: web.Request) -> web.Response:
    return web.json_response({"error": {"message": f"invalid key {request.headers['Authorization']}"}}, status=401)


async def malformed(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"id": "x", "choices": [', content_type="application/json")


async def not_json(_request: web.Request) -> web.Response:
    return web.Response(text="<html>proxy login</html>", content_type="text/html")


async def no_choices(_request: web.Request) -> web.Response:
    return web.json_response({**completion({"content": "x"}), "choices": []})


async def drop(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(0.05)
    return web.Response()


SCRIPT = {
    "text": text,
    "tools": tools,
    "refusal": refusal,
    "rate_limited": rate_limited,
    "rate_limited_until": rate_limited_until,
    "rate_limited_ms": rate_limited_ms,
    "server_error": server_error,
    "echo_key": echo_key,
    "malformed": malformed,
    "not_json": not_json,
    "no_choices": no_choices,
    "drop": drop,
}


class FakeOpenAI:
    """POST /v1/chat/completions answering by the last message's text; remembers what it got."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        self.authorizations.append(request.headers.get("Authorization"))
        return await SCRIPT[body["messages"][-1]["content"]](request)


@pytest.fixture
def fake() -> Any:
    server = FakeOpenAI()
    with serve(server.app) as url:
        server.base_url = f"{url}/v1"
        yield server


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def make_agent(base_url: str, **options: Any) -> OpenAIAgent:
    options.setdefault("api_key_env", KEY_ENV)
    config = OpenAIAgentConfig(kind="openai", base_url=base_url, model="gpt-test", **options)
    return OpenAIAgent(config, AgentContext(concurrency=4))


async def call_once(agent: OpenAIAgent, request: Request) -> AgentResult:
    await agent.start()
    try:
        return await agent.call(request, CallContext())
    finally:
        await agent.close()


def ask(base_url: str, script: str | dict[str, Any], **options: Any) -> AgentResult:
    """One call whose input (a string, or chat messages ending with one) names the scripted answer."""
    return asyncio.run(call_once(make_agent(base_url, **options), Request(request_id="r-1", input=script)))


def failure(base_url: str, script: str) -> AgentError:
    with pytest.raises(AgentError) as info:
        ask(base_url, script)
    assert KEY not in str(info.value)
    return info.value


def test_text_answer_with_usage_and_cached_tokens(fake: FakeOpenAI) -> None:
    result = ask(fake.base_url, "text")
    assert result.output == "It shipped."
    assert result.usage == Usage(input_tokens=120, output_tokens=8, cached_input_tokens=64)
    assert result.model == "gpt-test-2026-01-01"
    assert result.tool_calls == ()
    assert fake.authorizations == [f"Bearer {KEY}"]
    assert fake.bodies == [{"model": "gpt-test", "messages": [{"role": "user", "content": "text"}]}]


def test_system_prompt_and_options_are_sent_only_when_set(fake: FakeOpenAI) -> None:
    tool = {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}
    chat = {"messages": [{"role": "assistant", "content": "Hi"}, {"role": "user", "content": "text"}]}
    ask(fake.base_url, chat, system_prompt="Be brief.", temperature=0.0, max_tokens=50, tools=[tool])
    assert fake.bodies == [
        {
            "model": "gpt-test",
            "messages": [{"role": "system", "content": "Be brief."}, *chat["messages"]],
            "temperature": 0.0,
            "max_tokens": 50,
            "tools": [tool],
        }
    ]


def test_tool_calls_are_mapped(fake: FakeOpenAI) -> None:
    result = ask(fake.base_url, "tools")
    assert result.output is None
    assert result.tool_calls == (ToolCall("lookup_order", {"id": "1234"}), ToolCall("grep", "order 1234"))
    assert result.usage == Usage()


def test_refusal_is_the_output_when_there_is_no_content(fake: FakeOpenAI) -> None:
    assert ask(fake.base_url, "refusal").output == "I can't help with that."


def test_rate_limit_with_retry_after_seconds(fake: FakeOpenAI) -> None:
    error = failure(fake.base_url, "rate_limited")
    assert isinstance(error, AgentHTTPError)
    assert (error.status, error.error_type, error.retryable, error.retry_after) == (429, "rate_limited", True, 3.0)
    assert str(error) == "HTTP 429: Rate limit reached"


def test_rate_limit_with_retry_after_date_and_milliseconds(fake: FakeOpenAI) -> None:
    until = failure(fake.base_url, "rate_limited_until")
    assert until.retry_after is not None and 15 <= until.retry_after <= 21
    assert failure(fake.base_url, "rate_limited_ms").retry_after == 0.25


def test_server_error(fake: FakeOpenAI) -> None:
    error = failure(fake.base_url, "server_error")
    assert isinstance(error, AgentHTTPError)
    assert (error.status, error.error_type, error.retryable, error.retry_after) == (500, "http_error", True, None)
    assert "upstream exploded" in str(error)


def test_key_echoed_by_the_server_is_scrubbed(fake: FakeOpenAI) -> None:
    error = failure(fake.base_url, "echo_key")
    assert isinstance(error, AgentHTTPError)
    assert error.status == 401 and "invalid key Bearer" in str(error)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("malformed", "invalid JSON"),
        ("not_json", "expected a chat completion"),
        ("no_choices", "no choices"),
    ],
)
def test_unusable_answers_are_bad_responses(fake: FakeOpenAI, script: str, message: str) -> None:
    error = failure(fake.base_url, script)
    assert isinstance(error, AgentBadResponse)
    assert message in str(error)


def test_dropped_connection_is_a_connection_error(fake: FakeOpenAI) -> None:
    error = failure(fake.base_url, "drop")
    assert isinstance(error, AgentConnectionError)


def test_connection_refused() -> None:
    error = failure(f"http://127.0.0.1:{unused_port()}/v1", "text")
    assert isinstance(error, AgentConnectionError)
    assert error.retryable


def test_missing_key_variable_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=KEY_ENV):
        asyncio.run(make_agent("http://127.0.0.1:1/v1").start())


def test_no_key_variable_sends_a_placeholder_key(fake: FakeOpenAI) -> None:
    assert ask(fake.base_url, "text", api_key_env=None).output == "It shipped."
    assert fake.authorizations == ["Bearer no-key"]
