"""The `http` agent: POST each request as JSON to an endpoint, map the JSON answer to a result.

The body template and the response paths are compiled once, so a call costs one
render, one `json.dumps`, one aiohttp round trip and one `json.loads`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field

from harness.agents._http import CONNECT_TIMEOUT_S, parse_retry_after, read_capped
from harness.agents.base import Agent, AgentContext, AgentSettings, CallContext
from harness.errors import (
    AgentBadResponse,
    AgentConnectionError,
    AgentHTTPError,
    AgentTimeout,
    ConfigError,
)
from harness.records import AgentResult, Request
from harness.secrets import expand_env, is_secret_name, remember_secret, scrub
from harness.sections import Section

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AGENT", "HttpAgent", "HttpAgentConfig", "HttpResponseMap"]


class HttpResponseMap(Section):
    """Where each result field sits in the endpoint's JSON answer (dotted paths, list indexes allowed).

    An answer with nothing at the output, tool-call and error paths is a `bad_response`, not a success.
    """

    output: str = "output"
    tool_calls: str = "tool_calls"
    input_tokens: str = "usage.input_tokens"
    output_tokens: str = "usage.output_tokens"
    cached_input_tokens: str = "usage.cached_input_tokens"
    cost_usd: str = "cost_usd"
    model: str = "model"
    error: str = "error"


class HttpAgentConfig(AgentSettings):
    kind: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = {}
    """Header values may use ${ENV_VAR}; they are expanded at call time and never stored."""
    body: dict[str, Any] | None = None
    """Body template; strings like "{{input}}" or "{{metadata.intent}}" are filled from the request, and
    "{{tools_url}}" / "{{request_key}}" / "{{mcp_url}}" from the replay's tool sandbox."""
    response: HttpResponseMap = Field(default_factory=HttpResponseMap)
    max_response_bytes: int = Field(10_000_000, gt=0)

Render = Callable[[Request], Any]
Steps = tuple[tuple[str, int | None], ...]

_CALL: ContextVar[CallContext] = ContextVar("harness_http_call", default=CallContext())
"""The call being rendered: {{tools_url}} and {{request_key}} (the replay's tool sandbox) read it."""
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_ROOTS: dict[str, Render] = {
    "request": Request.to_dict,
    "request_id": lambda r: r.request_id,
    "input": lambda r: r.input,
    "messages": lambda r: r.messages,
    "text": lambda r: r.text,
    "user_id": lambda r: r.user_id,
    "session_id": lambda r: r.session_id,
    "timestamp": lambda r: r.timestamp.isoformat() if r.timestamp else None,
    "metadata": lambda r: r.metadata,
    "reference": lambda r: r.reference,
    "tools_url": lambda r: _CALL.get().tools_url,
    "request_key": lambda r: _CALL.get().request_key,
    "mcp_url": lambda r: _CALL.get().mcp_url,
}
_ERROR_SNIPPET_CHARS = 200
_PLAIN_HEADERS = frozenset({"accept", "accept-encoding", "accept-language", "cache-control", "connection",
                            "content-type", "content-length", "host", "user-agent", "x-request-id"})
"""Headers that never hold a credential; every other header's value is treated as a secret."""


class HttpAgent(Agent):
    """Answers by POSTing JSON to `config.url`; one aiohttp session per agent, opened in start()."""

    kind = "http"
    libraries = ("aiohttp",)
    config_model = HttpAgentConfig

    def __init__(self, config: HttpAgentConfig, context: AgentContext) -> None:
        super().__init__(model=config.model)
        self._config = config
        self._concurrency = context.concurrency
        self._render: Render = Request.to_dict if config.body is None else _compile_template(config.body)
        self.uses_tool_endpoint = _names_sandbox(config.body)
        self._fields = _compile_response_map(config.response)
        self._roots = _readable_roots(self._fields)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Expand `${VAR}` in the headers (kept in memory only) and open the session."""
        import aiohttp

        headers = {
            name: expand_env(value, f"header {name!r} of the http agent for {self._config.url}")
            for name, value in self._config.headers.items()
        }
        _remember_credentials(self._config.url, headers)
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._concurrency),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
            headers=headers,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, request: Request, context: CallContext) -> AgentResult:
        """POST the rendered body once and translate the answer or the failure."""
        import aiohttp

        if self._session is None:
            raise RuntimeError("HttpAgent.call() before start()")
        token = _CALL.set(context)
        try:
            payload = json.dumps(self._render(request)).encode()
        finally:
            _CALL.reset(token)
        # Translations use `from None`: aiohttp errors can hold the request and its headers.
        try:
            async with self._session.post(self._config.url, data=payload) as response:
                if not 200 <= response.status < 300:
                    raise await self._http_error(response)
                body = await _read_capped(response, self._config.max_response_bytes)
        except aiohttp.ConnectionTimeoutError as exc:  # a stuck handshake is a connection fault, not a slow agent
            raise AgentConnectionError(self._scrub(f"{type(exc).__name__}: {exc}")) from None
        except TimeoutError as exc:
            raise AgentTimeout(self._scrub(f"{type(exc).__name__}: {exc}")) from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, ConnectionError) as exc:
            raise AgentConnectionError(self._scrub(f"{type(exc).__name__}: {exc}")) from None
        except aiohttp.ClientError as exc:  # a malformed HTTP answer, too many redirects, ...
            raise AgentBadResponse(self._scrub(f"{type(exc).__name__}: {exc}")) from None
        return AgentResult.from_mapping(self._extract(_parse_json(body)))

    async def _http_error(self, response: aiohttp.ClientResponse) -> AgentHTTPError:
        """The error for a non-2xx status: a snippet of the body, and Retry-After when given."""
        head = await response.content.read(4 * _ERROR_SNIPPET_CHARS)
        snippet = " ".join(head.decode("utf-8", "replace").split())[:_ERROR_SNIPPET_CHARS]
        return AgentHTTPError(
            response.status,
            self._scrub(snippet or response.reason or "no body"),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _extract(self, document: Any) -> dict[str, Any]:
        """The canonical result mapping, each field taken from its configured path.

        An answer none of the paths can look into (a number, a string, null, or a list when no
        path starts with an index) is a bad response, not a success with every field missing.
        """
        if not isinstance(document, self._roots):
            raise AgentBadResponse(f"expected a JSON object, got {type(document).__name__}")
        get = {name: _dig(document, steps) for name, steps in self._fields.items()}
        if get["output"] is None and not get["tool_calls"] and get["error"] is None:
            paths = self._config.response
            raise AgentBadResponse(self._scrub(
                f"answer has no output at '{paths.output}' and no tool calls at '{paths.tool_calls}' (the"
                f" response mapping); it has {_top_level(document)}"))
        return {
            "output": get["output"],
            "tool_calls": get["tool_calls"],
            "usage": {
                "input_tokens": get["input_tokens"],
                "output_tokens": get["output_tokens"],
                "cached_input_tokens": get["cached_input_tokens"],
            },
            "cost_usd": get["cost_usd"],
            "model": get["model"],
            "error": get["error"],
        }

    def _scrub(self, text: str) -> str:
        """Header values (tokens, keys) never reach an error message, even when a server echoes them."""
        return scrub(text) or ""


def _top_level(document: Any) -> str:
    """What an answer holds at its top level, for an error: its first keys, or the list's length."""
    if isinstance(document, dict):
        keys = list(document)
        shown = ", ".join(repr(str(k)[:40]) for k in keys[:12]) + (f" and {len(keys) - 12} more" if len(keys) > 12 else "")
        return f"top-level keys {shown}" if keys else "no keys (an empty object)"
    return f"a list of {len(document)} items at the top level" if isinstance(document, list) else type(document).__name__


def _remember_credentials(url: str, headers: dict[str, str]) -> None:
    """Header values that may be credentials, and secret-looking query parameters of the URL,
    literal or from the environment, become secrets scrubbed from everything the process keeps."""
    for name, value in headers.items():
        if name.lower() not in _PLAIN_HEADERS:
            remember_secret(value)
            remember_secret(value.partition(" ")[2])  # "Bearer <token>": the token alone
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=False):
        if is_secret_name(name):
            remember_secret(value)


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes (decompressed bodies are counted as read)."""
    length = response.content_length if "Content-Encoding" not in response.headers else None
    body = await read_capped(response.content, length, limit)
    if body is None:
        raise AgentBadResponse(f"response of {length} bytes exceeds max_response_bytes ({limit})" if length is not None
                               else f"response exceeds max_response_bytes ({limit})")
    return body


def _parse_json(body: bytes) -> Any:
    """Strict UTF-8, then JSON; either failure is a bad response, not a crash."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgentBadResponse(f"invalid UTF-8 in response at byte {exc.start}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AgentBadResponse(f"invalid JSON in response: {exc}") from None
    except RecursionError:
        raise AgentBadResponse("JSON in response is nested too deep to read") from None


def _steps(path: str) -> Steps:
    """A dotted path as lookup steps; a numeric step also indexes lists."""
    return tuple((part, int(part) if part.isdigit() else None) for part in path.split("."))


def _dig(value: Any, steps: Steps | None) -> Any:
    """Follow `steps` into nested dicts and lists; anything missing gives None. None steps: the root."""
    if steps is None:
        return value
    for key, index in steps:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and index is not None and index < len(value):
            value = value[index]
        else:
            return None
    return value


def _compile_response_map(mapping: HttpResponseMap) -> dict[str, Steps | None]:
    """Each result field's path as steps; "$" stands for the whole document."""
    return {name: None if path == "$" else _steps(path) for name, path in mapping.model_dump().items()}


def _readable_roots(fields: dict[str, Steps | None]) -> type | tuple[type, ...]:
    """The types of answer the compiled paths can read: anything for "$", lists for a leading index."""
    if any(steps is None for steps in fields.values()):
        return object
    if any(steps[0][1] is not None for steps in fields.values() if steps):
        return (dict, list)
    return dict


def _names_sandbox(template: Any) -> bool:
    """True when the body template passes the sandbox on ({{tools_url}}, {{request_key}}, {{mcp_url}})."""
    roots = {m.group(1).partition(".")[0] for m in _PLACEHOLDER.finditer(json.dumps(template))}  # as _compile_path
    return not roots.isdisjoint(("tools_url", "request_key", "mcp_url"))


def _compile_template(template: Any) -> Render:
    """A function rendering the body template for a request; placeholders are checked here, once."""
    render = _compile(template, "body")
    return render if render is not None else (lambda _request: template)


def _compile(node: Any, where: str) -> Render | None:
    """A renderer for one template node, or None when the node holds no placeholder."""
    if isinstance(node, dict):
        parts = {key: _compile(value, f"{where}.{key}") for key, value in node.items()}
        if all(part is None for part in parts.values()):
            return None
        pairs = [(key, part or _constant(node[key])) for key, part in parts.items()]
        return lambda request: {key: part(request) for key, part in pairs}
    if isinstance(node, list):
        items = [_compile(value, f"{where}[{i}]") for i, value in enumerate(node)]
        if all(item is None for item in items):
            return None
        renders = [item or _constant(value) for item, value in zip(items, node)]
        return lambda request: [render(request) for render in renders]
    if isinstance(node, str):
        return _compile_string(node, where)
    return None


def _compile_string(text: str, where: str) -> Render | None:
    """`"{{path}}"` alone keeps the value's JSON type; inside longer text it is interpolated."""
    matches = list(_PLACEHOLDER.finditer(text))
    if not matches:
        return None
    if len(matches) == 1 and matches[0].span() == (0, len(text)):
        return _compile_path(matches[0].group(1), where)
    pieces: list[str | Render] = []
    end = 0
    for match in matches:
        pieces.append(text[end : match.start()])
        pieces.append(_compile_path(match.group(1), where))
        end = match.end()
    pieces.append(text[end:])
    parts = [p for p in pieces if p != ""]
    return lambda request: "".join(p if isinstance(p, str) else _as_text(p(request)) for p in parts)


def _compile_path(path: str, where: str) -> Render:
    root, _, rest = path.partition(".")
    getter = _ROOTS.get(root)
    if getter is None:
        known = ", ".join(_ROOTS)
        raise ConfigError(f"http agent body template: unknown placeholder {{{{{path}}}}} at {where} (known: {known})")
    if not rest:
        return getter
    steps = _steps(rest)
    return lambda request: _dig(getter(request), steps)


def _constant(value: Any) -> Render:
    return lambda _request: value


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


AGENT = HttpAgent
