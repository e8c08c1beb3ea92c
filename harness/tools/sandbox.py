"""The replay's tool sandbox: recorded tool results served again, writes blocked, every call kept.

One Sandbox per replay session. The runner opens a ToolSession per attempt (`open()`), hands it
to the agent (`CallContext.tools`, or its request key for the HTTP endpoint), and `release()`s
it when the attempt ends. Events wait here, per (request, arm, sample), until the response they
belong to is written: the store writes both in one transaction, so a replay killed at any moment
keeps neither or both, and a resume redoes the call without duplicating its events.
"""

from __future__ import annotations

import asyncio
import itertools
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
        self._pending: dict[str, list[str]] = {}
        """Request id -> the ids of its chunk, while that chunk's recordings are not loaded."""
        self._loads: dict[int, asyncio.Future[None]] = {}
        self._sessions: dict[str, ToolSession] = {}
        self._key_prefix = secrets.token_urlsafe(12)
        self._keys = itertools.count()
        self._events: dict[Key, list[ToolEvent]] = {}
        self._http: Any = None
        self._emulator: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tools_url: str | None = None
        """The HTTP endpoint's base URL while one is serving this sandbox."""
        self.mcp_url: str | None = None
        """The MCP endpoint's URL while one is serving this sandbox."""

    # ---- recordings ---------------------------------------------------------------------

    async def prepare(self, request_ids: list[str]) -> None:
        """Note a chunk of requests about to be replayed, dropping the oldest chunk. Nothing is read
        yet: the chunk's recordings are loaded in one read when its first tool call comes, so a
        replay whose agents call no tools never reads them."""
        self.loop = asyncio.get_running_loop()
        chunk = list(request_ids)
        for rid in chunk:
            self._pending[rid] = chunk
        self._chunks.append(chunk)
        while len(self._chunks) > _CHUNKS_KEPT:
            for rid in self._chunks.popleft():
                self._recordings.pop(rid, None)
                self._pending.pop(rid, None)

    async def recordings_for(self, request_id: str) -> Recordings:
        """The request's recordings, loading its whole chunk (once, however many calls wait)."""
        known = self._recordings.get(request_id)
        if known is not None:
            return known
        chunk = self._pending.get(request_id) or [request_id]  # not prepared: a direct call
        load = self._loads.get(id(chunk))
        if load is None:
            load = self._loads[id(chunk)] = asyncio.ensure_future(self._load(chunk))
        await asyncio.shield(load)  # a cancelled caller does not cancel the load others wait for
        known = self._recordings.get(request_id)
        return known if known is not None else parse_recordings(None, self.normalizer)

    async def _load(self, chunk: list[str]) -> None:
        try:
            found = await asyncio.to_thread(self._source, chunk)
            for rid in chunk:
                self._recordings[rid] = parse_recordings(found.get(rid), self.normalizer)
                self._pending.pop(rid, None)
        finally:
            self._loads.pop(id(chunk), None)

    # ---- sessions -----------------------------------------------------------------------

    def open(self, request_id: str, arm: str, sample: int, attempt: int = 1,
             messages: list[dict[str, Any]] | None = None) -> ToolSession:
        """A session for one attempt, reachable by its request key until released; `messages`
        (the request's conversation) is what the emulator sees."""
        key = f"{self._key_prefix}.{next(self._keys)}"  # unguessable per run, unique per session, cheap
        session = ToolSession(self, request_id, arm, sample, attempt, key, messages or [])
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

    async def emulate(self, policy: ResolvedPolicy, arguments: Any, session: ToolSession) -> Any:
        """An invented result from the emulator model ([tools.sandbox.emulator])."""
        from harness.tools.definitions import tool_definitions
        from harness.tools.emulator import Emulator

        if self.settings.emulator is None:
            raise ToolCallError(f"tool {policy.tool!r} is emulated but [tools.sandbox.emulator] is not configured")
        if self._emulator is None:
            self._emulator = Emulator(self.settings.emulator)
        recordings = await self.recordings_for(session.request_id)
        definition = next((d for d in tool_definitions(self.tools, recordings) if d["name"] == policy.tool),
                          {"name": policy.tool, "description": None, "input_schema": {"type": "object"}})
        return await self._emulator.result(definition, arguments, session.messages)

    async def aclose(self) -> None:
        if self._emulator is not None:
            await self._emulator.aclose()
            self._emulator = None
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
