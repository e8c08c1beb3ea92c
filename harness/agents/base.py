"""The Agent interface: one attempt at answering one Request.

Adapters do not retry, time out or price anything: replay wraps every call with the
timeout, the retry policy and the price table, the same way for every kind. An adapter
raises an AgentError subclass for a failure (errors.py says which error_type each one
records) and may return an AgentResult or a plain mapping in the canonical shape.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.records import AgentResult, Request

if TYPE_CHECKING:
    from harness.store import Store

__all__ = ["Agent", "AgentContext"]


@dataclass(frozen=True)
class AgentContext:
    """What an adapter may need besides its own config section."""

    store: Store | None = None
    dataset: str | None = None
    concurrency: int = 16
    base_dir: Path = Path(".")
    """Directory of the config file: python modules and command paths resolve from here."""


class Agent(ABC):
    """Answers requests. Lifecycle: start() once in the running loop, call() many times, close()."""

    kind: str = "agent"
    #: False when the result carries its own latency (captured outputs), so replay keeps it.
    measures_latency: bool = True

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
    async def call(self, request: Request) -> AgentResult:
        """One attempt. Raise AgentError subclasses; never retry or sleep here."""
