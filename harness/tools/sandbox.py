"""The replay's tool sandbox: recorded tool results served again, writes blocked, every call kept.

One Sandbox per replay session. The runner opens a ToolSession per attempt (`open()`), hands it
to the agent (`CallContext.tools`, or its request key for the HTTP endpoint), and `release()`s
it when the attempt ends. Events wait here, per (request, arm, sample), until the response they
belong to is written: the store writes both in one transaction, so a replay killed at any moment
keeps neither or both, and a resume redoes the call without duplicating its events.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from harness.config.tools import ToolsConfig
from harness.errors import ToolCallError
from harness.records import ToolEvent
from harness.tools.policy import PolicyBook, ResolvedPolicy
from harness.tools.recordings import Recordings, parse_recordings
from harness.tools.session import ToolSession

__all__ = ["Sandbox", "RecordingSource", "store_recordings"]

RecordingSource = Callable[[list[str]], Mapping[str, Any]]
"""Request ids -> each request's captured tool calls (JSON text or a list)."""

Key = tuple[str, str, int]

#: Chunks of recordings kept in memory: the one being queued and the ones still in flight.
_CHUNKS_KEPT = 3


class Sandbox:
    """Policies, recordings, sessions and pending events of one replay session."""

    def __init__(self, tools: ToolsConfig, source: RecordingSource | Mapping[str, Any] | None = None, *,
                 run_id: str = "") -> None:
        self.tools = tools
        self.settings = tools.sandbox
        self.policies = PolicyBook(tools)
        self.normalizer = tools.normalizer()
        self.run_id = run_id
        self._source: RecordingSource = _as_source(source)
        self._recordings: dict[str, Recordings] = {}
        self._chunks: deque[list[str]] = deque()
        self._sessions: dict[str, ToolSession] = {}
        self._events: dict[Key, list[ToolEvent]] = {}
        self._http: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tools_url: str | None = None
        """The HTTP endpoint's base URL while one is serving this sandbox."""
        self.mcp_url: str | None = None
        """The MCP endpoint's URL while one is serving this sandbox."""

    # ---- recordings ---------------------------------------------------------------------

    async def prepare(self, request_ids: list[str]) -> None:
        """Load the recordings of a chunk of requests (one read), dropping the oldest chunk."""
        self.loop = asyncio.get_running_loop()
        found = await asyncio.to_thread(self._source, request_ids)
        for rid in request_ids:
            self._recordings[rid] = parse_recordings(found.get(rid), self.normalizer)
        self._chunks.append(list(request_ids))
        while len(self._chunks) > _CHUNKS_KEPT:
            for rid in self._chunks.popleft():
                self._recordings.pop(rid, None)

    async def recordings_for(self, request_id: str) -> Recordings:
        known = self._recordings.get(request_id)
        if known is None:  # not prepared (a direct call, or a call that outlived its chunk)
            found = await asyncio.to_thread(self._source, [request_id])
            known = self._recordings[request_id] = parse_recordings(found.get(request_id), self.normalizer)
        return known

    # ---- sessions -----------------------------------------------------------------------

    def open(self, request_id: str, arm: str, sample: int, attempt: int = 1) -> ToolSession:
        """A session for one attempt, reachable by its request key until released."""
        key = secrets.token_urlsafe(12)
        session = ToolSession(self, request_id, arm, sample, attempt, key)
        self._sessions[key] = session
        return session

    def release(self, session: ToolSession) -> None:
        self._sessions.pop(session.key, None)

    def session(self, key: str | None) -> ToolSession | None:
        """The live session a request key routes to, or None."""
        return self._sessions.get(key) if key else None

    # ---- events -------------------------------------------------------------------------

    def add_event(self, event: ToolEvent) -> None:
        self._events.setdefault((event.request_id, event.arm, event.sample), []).append(event)

    def events_for(self, keys: Iterable[Key]) -> list[ToolEvent]:
        """The pending events of these responses (left pending until `forget`)."""
        return [e for key in keys for e in self._events.get(key, ())]

    def forget(self, keys: Iterable[Key]) -> None:
        """The responses were written with their events: drop them here."""
        for key in keys:
            self._events.pop(key, None)

    # ---- live endpoints -----------------------------------------------------------------

    async def live(self, policy: ResolvedPolicy, arguments: Any) -> Any:
        """POST the arguments to the tool's live endpoint; its JSON (or text) answer is the result."""
        import aiohttp

        if not policy.url:
            raise ToolCallError(f"tool {policy.tool!r} is live but has no url ([tools.policies] url)")
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.live_timeout_s))
        try:
            async with self._http.post(policy.url, json=arguments) as answer:
                body = await answer.text()
                if answer.status >= 400:
                    raise ToolCallError(f"live tool {policy.tool!r}: HTTP {answer.status}: {body[:200]}")
                return _json_or_text(body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ToolCallError(f"live tool {policy.tool!r}: {type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def store_recordings(store: Any, dataset: str, variant: str) -> RecordingSource:
    """A RecordingSource reading one captured variant's tool calls from the store."""

    def read(request_ids: list[str]) -> Mapping[str, Any]:
        rows = store.captured_rows(dataset, variant, request_ids)
        if rows.is_empty():
            return {}
        return dict(zip(rows["request_id"].to_list(), rows["tool_calls"].to_list(), strict=True))

    return read


def _as_source(source: RecordingSource | Mapping[str, Any] | None) -> RecordingSource:
    if source is None:
        return lambda ids: {}
    if isinstance(source, Mapping):
        fixed = source
        return lambda ids: {rid: fixed[rid] for rid in ids if rid in fixed}
    return source


def _json_or_text(body: str) -> Any:
    import json

    try:
        return json.loads(body)
    except ValueError:
        return body
