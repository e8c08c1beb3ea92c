"""The preflight: before a replay spends anything, call each remote agent once and stop when one cannot answer.

An endpoint that is not listening, times out, does not exist (HTTP 404/405) or a command that cannot
start would otherwise cost a whole replay of connection errors. Python and captured agents are not
called ahead (nothing remote can be missing). An answer that is an error of another kind (a 401, a
500, a bad response) still proves the agent is there: the replay records those per request.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from harness.agents import Agent, CallContext
from harness.config import HarnessConfig
from harness.errors import (
    AgentConnectionError,
    AgentError,
    AgentHTTPError,
    AgentTimeout,
    AgentUnavailable,
    ConfigError,
    PreflightError,
)
from harness.records import Request
from harness.retry import RetryPolicy, call_with_retries
from harness.secrets import scrub

if TYPE_CHECKING:
    from harness.tools.sandbox import Sandbox

__all__ = ["PREFLIGHT_KINDS", "preflight", "needs_preflight", "cannot_answer"]

PREFLIGHT_KINDS = frozenset({"http", "openai", "command"})
_MISSING_STATUSES = frozenset({404, 405})


def cannot_answer(error: AgentError | None) -> bool:
    """True for failures that mean no call to this agent can succeed: nothing there to answer."""
    if isinstance(error, AgentHTTPError):
        return error.status in _MISSING_STATUSES
    return isinstance(error, AgentConnectionError | AgentTimeout | AgentUnavailable)


def needs_preflight(kinds: Iterable[str]) -> bool:
    """True when one of the agents' kinds is a kind the preflight calls."""
    return any(kind in PREFLIGHT_KINDS for kind in kinds)


async def preflight(config: HarnessConfig, agents: dict[str, Agent], requests: list[Request],
                    sandbox: Sandbox | None = None) -> None:
    """Call each distinct remote agent with `requests` in turn until one answers; raise ReplayError
    naming the agent when none does. Nothing is stored and no budget is charged. With the run's tool
    sandbox, the agents' tool calls go through it as in the replay (writes blocked), and its events
    of these calls are dropped."""
    arms_of: dict[int, list[str]] = {}
    for arm, agent in agents.items():
        if agent.kind in PREFLIGHT_KINDS:
            arms_of.setdefault(id(agent), []).append(arm)
    if not arms_of or not requests:
        return
    by_id = {id(agent): agent for agent in agents.values()}
    failures = await asyncio.gather(*(_try(config, by_id[key], arms[0], requests, sandbox) for key, arms in arms_of.items()))
    problems = [f"the {'/'.join(arms)} agent ({_describe(config, arms[0], by_id[key])}) cannot answer: {failure}"
                for (key, arms), failure in zip(arms_of.items(), failures, strict=True) if failure]
    if problems:
        raise PreflightError("preflight failed, nothing was replayed: " + "; ".join(problems)
                             + ". Start the agent or fix its [agents] section (replay.preflight = false skips this check)")


async def _try(config: HarnessConfig, agent: Agent, arm: str, requests: list[Request],
               sandbox: Sandbox | None) -> str | None:
    """None when the agent answered one of the requests; else what the last attempt said."""
    section = _section(config, arm)
    policy = RetryPolicy.from_settings(config.replay, section.timeout_s if section is not None else None)
    rng = random.Random(0)
    last = ""
    for request in requests:
        outcome = await call_with_retries(partial(_call, agent, request, arm, sandbox), policy, rng=rng)
        if outcome.error is None or not cannot_answer(outcome.error):
            return None
        tries = f"{outcome.attempts} attempt" + ("s" if outcome.attempts != 1 else "")
        last = f"{outcome.error.error_type}: {outcome.error} (request {request.request_id}, {tries})"
    return scrub(last) or last


def _section(config: HarnessConfig, arm: str) -> Any:
    """The arm's agent section, or None for an agent given in code."""
    try:
        return config.agent_for(arm)
    except ConfigError:
        return None


def _describe(config: HarnessConfig, arm: str, agent: Agent) -> str:
    """The agent's kind and where it is (endpoint or command), secrets scrubbed."""
    section = _section(config, arm)
    where = getattr(section, "url", None) or getattr(section, "base_url", None) or getattr(section, "command", None)
    where_text = " ".join(where) if isinstance(where, list) else str(where or "")
    return f"{agent.kind} {scrub(where_text) or ''}".strip()


_PREFLIGHT_SAMPLE = -1
"""The sample number of preflight calls: never a response's, so their tool events cannot mix with one."""


async def _call(agent: Agent, request: Request, arm: str, sandbox: Sandbox | None) -> Any:
    """One preflight call, through the run's sandbox when there is one (its events are dropped after)."""
    if sandbox is None:
        return await agent.call(request, CallContext(arm=arm))
    session = sandbox.open(request.request_id, arm, _PREFLIGHT_SAMPLE, 1, request.messages)
    context = CallContext(arm, _PREFLIGHT_SAMPLE, tools=session, tools_url=sandbox.tools_url, request_key=session.key,
                          mcp_url=sandbox.mcp_url)
    try:
        return await agent.call(request, context)
    finally:
        sandbox.release(session)
        sandbox.forget([(request.request_id, arm, _PREFLIGHT_SAMPLE)])
