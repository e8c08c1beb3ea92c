"""The `openai` agent: a chat completion per request through the official SDK, on aiohttp; with
tools during a sandboxed replay, a tool loop (openai_loop.py) of several completions.

The SDK's own retries are off (replay retries) and its errors are translated here, with
the API key scrubbed from every message.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import Field

from harness.agents._http import CONNECT_TIMEOUT_S, parse_retry_after
from harness.agents.base import Agent, AgentContext, AgentSettings, CallContext
from harness.agents.openai_loop import next_turn, run_loop
from harness.errors import (
    AgentBadResponse,
    AgentConnectionError,
    AgentHTTPError,
    AgentTimeout,
    ConfigError,
)
from harness.records import AgentResult, Request
from harness.secrets import remember_secret, scrub

if TYPE_CHECKING:
    import httpx2
    import openai

__all__ = ["AGENT", "OpenAIAgent", "OpenAIAgentConfig", "to_mapping"]


class OpenAIAgentConfig(AgentSettings):
    kind: Literal["openai"]
    base_url: str = Field(pattern=r"^https?://")
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (never the key itself)."""
    system_prompt: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)
    tools: list[dict[str, Any]] = []
    """Tool definitions offered to the model, in OpenAI's `tools` form. During a replay with the
    tool sandbox, the agent runs as a loop: the model's tool calls are answered by the sandbox."""
    max_steps: int = Field(8, ge=1)
    """Completions per request in the tool loop before it stops (error `max_steps`)."""
    max_tool_calls: int = Field(16, ge=0)
    """Tool calls per request in the tool loop before it stops (error `max_tool_calls`)."""

_NO_KEY = "no-key"
"""Sent when `api_key_env` is unset: local OpenAI-compatible servers often want no key."""
_ERROR_MESSAGE_CHARS = 200


class OpenAIAgent(Agent):
    """Answers with `chat.completions.create` against any OpenAI-compatible `base_url`."""

    kind = "openai"
    uses_tool_endpoint = False  # its tool loop calls the sandbox in-process
    libraries = ("openai", "httpx2")
    config_model = OpenAIAgentConfig

    def __init__(self, config: OpenAIAgentConfig, context: AgentContext) -> None:
        super().__init__(model=config.model)
        self._config = config
        self._concurrency = context.concurrency
        self._system: list[Any] = [{"role": "system", "content": config.system_prompt}] if config.system_prompt else []
        options: dict[str, Any] = {"temperature": config.temperature, "max_tokens": config.max_tokens}
        self._options = {name: value for name, value in options.items() if value is not None}
        if config.tools:
            self._options["tools"] = config.tools
        self._client: openai.AsyncOpenAI | None = None
        self._key = _NO_KEY

    async def start(self) -> None:
        """Read the API key from the environment (memory only) and open the client."""
        import httpx2
        import openai

        name = self._config.api_key_env
        if name is not None:
            key = os.environ.get(name)
            if not key:
                raise ConfigError(
                    f"the openai agent for {self._config.base_url} reads its API key from the "
                    f"environment variable {name}, which is not set"
                )
            self._key = key
            remember_secret(key)
        limits = httpx2.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency)
        self._client = openai.AsyncOpenAI(
            base_url=self._config.base_url,
            api_key=self._key,
            max_retries=0,
            timeout=openai.Timeout(None, connect=CONNECT_TIMEOUT_S),
            http_client=openai.DefaultAioHttpClient(limits=limits),
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def call(self, request: Request, context: CallContext) -> AgentResult:
        """One chat completion, or with tools and the replay's sandbox the agent loop (openai_loop.py)."""
        if self._client is None:
            raise RuntimeError("OpenAIAgent.call() before start()")
        messages = self._system + next_turn(request.messages)
        if context.tools is not None and self._config.tools:
            return AgentResult.from_mapping(await run_loop(self._step, messages, context.tools,
                                                           self._config.max_steps, self._config.max_tool_calls))
        return AgentResult.from_mapping(to_mapping(await self._complete(messages)))

    async def _step(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return to_mapping(await self._complete(messages))

    async def _complete(self, messages: list[Any]) -> Any:
        """One chat completion; SDK errors become AgentErrors without the key in them."""
        import openai

        assert self._client is not None
        # Translations use `from None`: SDK errors hold the request with its Authorization header.
        try:
            return await self._client.chat.completions.create(
                model=self._config.model, messages=cast(Any, messages), **self._options
            )
        except openai.APITimeoutError as exc:
            if _is_connection_fault(exc):
                raise AgentConnectionError(self._scrub(_describe(_root_cause(exc)))) from None
            raise AgentTimeout(self._scrub(f"{exc.message} ({_describe(_root_cause(exc))})")) from None
        except openai.APIConnectionError as exc:
            raise AgentConnectionError(self._scrub(f"{exc.message} ({_describe(_root_cause(exc))})")) from None
        except openai.APIStatusError as exc:
            raise AgentHTTPError(
                exc.status_code,
                self._scrub(_status_message(exc))[:_ERROR_MESSAGE_CHARS],
                retry_after=_retry_after(exc.response.headers),
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AgentBadResponse(f"invalid JSON in response: {exc}") from None

    def _scrub(self, text: str) -> str:
        return scrub(text) or ""


def to_mapping(completion: Any) -> dict[str, Any]:
    """The canonical result mapping of a chat completion; any other shape is a bad response."""
    from openai.types.chat import ChatCompletion

    if not isinstance(completion, ChatCompletion):
        raise AgentBadResponse(f"expected a chat completion, got {type(completion).__name__}")
    try:
        if not completion.choices:
            raise AgentBadResponse("chat completion has no choices")
        message = completion.choices[0].message
        usage = completion.usage
        details = usage.prompt_tokens_details if usage is not None else None
        return {
            "output": message.content if message.content is not None else message.refusal,
            "tool_calls": [_tool_call(call) for call in message.tool_calls or []],
            "usage": {
                "input_tokens": usage.prompt_tokens if usage is not None else None,
                "output_tokens": usage.completion_tokens if usage is not None else None,
                "cached_input_tokens": details.cached_tokens if details is not None else None,
            },
            "model": completion.model,
        }
    except (AttributeError, TypeError, IndexError, KeyError) as exc:
        raise AgentBadResponse(f"malformed chat completion: {exc}") from None


def _tool_call(call: Any) -> dict[str, Any]:
    """A function tool call as `{id, name, arguments}`; a custom tool call's free-text input is its arguments."""
    if getattr(call, "function", None) is not None:
        return {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
    return {"id": call.id, "name": call.custom.name, "arguments": call.custom.input}


def _status_message(exc: openai.APIStatusError) -> str:
    """The server's own error message when it gave one, else the SDK's summary."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return body["message"]
    if isinstance(body, str) and body.strip():
        return " ".join(body.split())
    return exc.message


def _retry_after(headers: httpx2.Headers) -> float | None:
    """OpenAI's `retry-after-ms` when present, else the standard Retry-After."""
    millis = parse_retry_after(headers.get("retry-after-ms"))
    return millis / 1000 if millis is not None else parse_retry_after(headers.get("retry-after"))


def _is_connection_fault(exc: BaseException) -> bool:
    """True when an SDK "timeout" was really a refused or dropped connection.

    The SDK's aiohttp transport maps every aiohttp connection error to a connect timeout.
    """
    cause: BaseException | None = exc
    while cause is not None:
        from aiohttp import ClientConnectionError

        if isinstance(cause, ClientConnectionError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__
    return False


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


AGENT = OpenAIAgent
