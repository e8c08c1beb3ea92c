"""`python` agents: a `module:callable`, sync or async, called with the Request (and the call's
context when it takes a second argument: the sandbox's `tools`, the migrated `state`, ...).

Sync callables run in a thread pool sized to the replay's concurrency, so a slow one
does not stall the event loop. An exception becomes an `agent_error` for that request.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import Field

from harness.agents.base import Agent, AgentContext, AgentSettings, CallContext
from harness.errors import AgentError, AgentFailure, ConfigError
from harness.records import AgentResult, Request

__all__ = ["AGENT", "PythonAgent", "PythonAgentConfig", "load_callable"]


class PythonAgentConfig(AgentSettings):
    kind: Literal["python"]
    callable: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    """`module:function`, sync or async, called with a Request (and the CallContext, if it takes two)."""


def load_callable(spec: str, base_dir: str | None = None) -> Callable[..., Any]:
    """Import `module:attr.path`; modules next to the config file are importable."""
    module_name, _, attr_path = spec.partition(":")
    if base_dir and base_dir not in sys.path:
        sys.path.insert(0, base_dir)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"python agent {spec!r}: cannot import {module_name!r}: {exc}") from None
    for part in attr_path.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(f"python agent {spec!r}: {module_name} has no attribute {attr_path!r}")
    if not callable(target):
        raise ConfigError(f"python agent {spec!r} is not callable")
    return target


class PythonAgent(Agent):
    kind = "python"
    config_model = PythonAgentConfig

    def __init__(self, config: PythonAgentConfig, context: AgentContext) -> None:
        super().__init__(config.model)
        self._fn = load_callable(config.callable, str(context.base_dir))
        self._is_async = inspect.iscoroutinefunction(self._fn) or inspect.iscoroutinefunction(
            getattr(self._fn, "__call__", None)
        )
        self._wants_context = _takes_context(self._fn)
        self._workers = context.concurrency
        self._pool: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        if not self._is_async:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="agent")

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def call(self, request: Request, context: CallContext) -> AgentResult:
        args = (request, context) if self._wants_context else (request,)
        try:
            if self._is_async:
                answer = await self._fn(*args)
            else:
                answer = await asyncio.get_running_loop().run_in_executor(self._pool, self._fn, *args)
        except (AgentError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - the agent's exception is this request's error
            raise AgentFailure(f"{type(exc).__name__}: {exc}") from None
        return AgentResult.from_mapping(answer)


def _takes_context(fn: Callable[..., Any]) -> bool:
    """True when the callable accepts a second positional argument (or one named `context`)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


AGENT = PythonAgent
