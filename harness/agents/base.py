"""The Agent interface: one attempt at answering one Request, and what every adapter shares.

Adapters do not retry, time out or price anything: replay wraps every call with the
timeout, the retry policy and the price table, the same way for every kind. An adapter
raises an AgentError subclass for a failure (errors.py says which error_type each one
records) and may return an AgentResult or a plain mapping in the canonical shape.

A new agent kind is one module in this package defining its config (a subclass of
`AgentSettings` with a `kind` literal) and its `Agent` subclass, exported as `AGENT`;
harness/agents/registry.py finds it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from harness.records import AgentResult, Request
from harness.sections import Section

if TYPE_CHECKING:
    from harness.store import Store

__all__ = ["Agent", "AgentContext", "AgentSettings", "CallContext"]


class AgentSettings(Section):
    """Keys every agent accepts, besides its `kind`."""

    model: str | None = None
    """Model name used for the price table when the agent does not report one."""
    timeout_s: float | None = Field(None, gt=0)
    """Per-call timeout for this agent; defaults to replay.timeout_s."""


@dataclass(frozen=True)
class AgentContext:
    """What an adapter may need besides its own config section, for the whole run."""

    store: Store | None = None
    dataset: str | None = None
    concurrency: int = 16
    base_dir: Path = Path(".")
    """Directory of the config file: python modules and command paths resolve from here."""


@dataclass(frozen=True)
class CallContext:
    """What one call may use besides the request: who is asking (arm and sample), the tool
    sandbox's client and endpoints, and the user's migrated state (blue-green replays)."""

    arm: str = "prod"
    sample: int = 0
    tools: Any = None
    """The sandbox client for this call (`await tools.call(name, arguments)`), or None."""
    tools_url: str | None = None
    """The sandbox's HTTP endpoint for this call (`POST {tools_url}/tools/<name>`), or None."""
    request_key: str | None = None
    """The key that routes a sandbox call to this request, arm and sample."""
    mcp_url: str | None = None
    """The sandbox's MCP endpoint (streamable HTTP), when `[tools.sandbox] mcp` is on, or None."""
    state: dict[str, Any] | None = None
    """The user's migrated state (v2) for a blue-green replay, or None."""


class Agent(ABC):
    """Answers requests. Lifecycle: start() once in the running loop, call() many times, close()."""

    kind: ClassVar[str] = "agent"
    config_model: ClassVar[type[AgentSettings]]
    #: False when the result carries its own latency (captured outputs), so replay keeps it.
    measures_latency: ClassVar[bool] = True
    #: False when the agent cannot be told the sandbox's HTTP endpoint (`tools_url`), so a replay
    #: need not serve it; kinds that may pass it on (a command's environment, python code) keep True.
    uses_tool_endpoint: bool = True
    #: Modules start() imports: a replay imports them while the store opens its run.
    libraries: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: str | None = None) -> None:
        self.model = model
        """Model name used for pricing when a result does not name one."""

    async def start(self) -> None:
        """Open clients or sessions; called inside the event loop that will make the calls."""

    async def close(self) -> None:
        """Release what start() opened."""

    async def prepare(self, request_ids: Sequence[str]) -> None:
        """Called before a chunk of requests is scheduled (captured agents prefetch here)."""

    @abstractmethod
    async def call(self, request: Request, context: CallContext) -> AgentResult:
        """One attempt. Raise AgentError subclasses; never retry or sleep here."""
