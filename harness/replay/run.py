"""Replay a dataset through the prod, prod_repeat and candidate arms, resumably.

`replay()` opens (or resumes) the run, starts the agents, lets the Runner answer what the run
still owes, and records how the session ended. Killing the process at any moment loses at
most the unwritten batch: replaying the same run id again redoes exactly what is missing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.agents import Agent, AgentContext, build_agent, import_libraries
from harness.config import HarnessConfig, load_config
from harness.errors import ReplayError
from harness.names import check_run_id
from harness.replay.budget import Budget
from harness.replay.plan import RunPlan, new_run_id, preflight_requests, preflight_rows
from harness.replay.preflight import needs_preflight, preflight
from harness.replay.runner import Runner
from harness.replay.tooling import open_sandbox
from harness.secrets import redact, scrub
from harness.store import Store, open_store

__all__ = ["replay", "replay_async", "ReplaySummary"]


@dataclass
class ReplaySummary:
    """What a replay did; `status` is the run's status afterwards."""

    run_id: str
    dataset: str
    status: str
    n_planned: int
    n_done: int
    n_new: int = 0
    n_errors: int = 0
    spend_usd: float = 0.0
    elapsed_s: float = 0.0
    resumed: bool = False
    message: str = ""
    errors_by_type: dict[str, int] = field(default_factory=dict)


def replay(
    config: HarnessConfig | str | Path,
    *,
    store: Store | None = None,
    dataset: str | None = None,
    run_id: str | None = None,
    profile: str | None = None,
    agents: Mapping[str, Agent] | None = None,
    progress: bool = True,
    only: Collection[str] | None = None,
) -> ReplaySummary:
    """Replay a dataset through the configured arms (or resume `run_id`). Works in notebooks too.

    `agents` gives your own Agent instances for some arms (started and closed by the replay);
    the others are built from the config. `only` limits this session to some requests (a wave
    of a sequential replay)."""
    coroutine = replay_async(config, store=store, dataset=dataset, run_id=run_id, profile=profile, agents=agents,
                             progress=progress, only=only)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Inside a running loop (Jupyter): run in a thread with a loop of its own.
    result: list[ReplaySummary] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="harness-replay")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


async def replay_async(
    config: HarnessConfig | str | Path,
    *,
    store: Store | None = None,
    dataset: str | None = None,
    run_id: str | None = None,
    profile: str | None = None,
    agents: Mapping[str, Agent] | None = None,
    progress: bool = True,
    only: Collection[str] | None = None,
) -> ReplaySummary:
    """The coroutine behind replay()."""
    if run_id is not None:
        check_run_id(run_id)
    if not isinstance(config, HarnessConfig):
        config = load_config(config, profile=profile)
    store = store or open_store(config.db)
    name = dataset or config.replay.dataset
    if not name:
        raise ReplayError("no dataset to replay: name one, or set replay.dataset in the config")
    for arm in ("prod", "candidate"):
        if arm not in config.agents and arm not in (agents or {}):
            raise ReplayError(f"a replay needs an agent for the {arm} arm ([agents.{arm}] in the config)")
    plan = RunPlan(config, name, run_id or new_run_id(), profile, None if only is None else frozenset(only))
    return await _session(plan, store, dict(agents or {}), progress)


@dataclass
class _Opened:
    """What the store says of a run as its session starts."""

    existing: dict[str, Any] | None
    n_planned: int
    totals: dict[str, Any]
    preflight_rows: list[dict[str, Any]]


def _opened(plan: RunPlan, store: Store, preflighted: bool) -> _Opened:
    """Create or claim the run, and read what the session starts from (the preflight's requests
    when some agent is `preflighted`), on one connection."""
    with store.held():
        existing, n_planned = plan.open(store)
        if existing is not None and existing["status"] == "completed":
            return _Opened(existing, n_planned, store.run_totals(plan.run_id), [])
        if existing is not None:
            store.clear_cancelled(plan.run_id)
            store.update_run(plan.run_id, status="running", owner=plan.owner, message=None,
                             config=redact(plan.config.model_dump(mode="json")))
        rows = preflight_rows(plan, store) if preflighted else []
        return _Opened(existing, n_planned, store.run_totals(plan.run_id), rows)


async def _session(plan: RunPlan, store: Store, given: dict[str, Agent], progress: bool) -> ReplaySummary:
    started = time.monotonic()
    # the kinds of the agents the config builds, then with those given: known before any is built
    kinds = {section.kind for arm, section in plan.config.agents.items() if arm in plan.arms and arm not in given}
    preflighted = plan.config.replay.preflight and needs_preflight({*kinds, *(given[a].kind for a in plan.arms if a in given)})
    opening = asyncio.get_running_loop().run_in_executor(None, _opened, plan, store, preflighted)
    import_libraries(kinds)
    opened = await opening
    existing, n_planned, totals, run_id = opened.existing, opened.n_planned, opened.totals, plan.run_id
    if existing is not None and existing["status"] == "completed":
        return ReplaySummary(run_id, plan.dataset, "completed", n_planned, totals["n_responses"], resumed=True,
                             elapsed_s=time.monotonic() - started, message=f"run {run_id} already completed: nothing to do")
    budget = Budget(plan.config.replay.budget_usd, spent=totals["spend_usd"], max_cost=totals["max_cost_usd"])
    n_before = totals["n_responses"]
    agents: dict[str, Agent] = {}
    try:
        agents = _agents(plan, store, given)
        async with open_sandbox(plan, store, agents.values()) as sandbox:
            runner = Runner(plan, store, agents, budget, progress=progress, sandbox=sandbox)
            if budget.exhausted and n_before < n_planned:
                runner.stop("budget_exhausted")
            await _started(agents)
            if preflighted and n_before < n_planned and not budget.exhausted:
                await preflight(plan.config, agents, preflight_requests(plan, opened.preflight_rows), sandbox)
            await runner.run(n_before, n_planned)
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError) else "failed"
        await asyncio.to_thread(store.update_run, run_id, status=reason, message=scrub(f"{type(exc).__name__}: {exc}"[:500]))
        raise
    finally:
        await _closed(agents)
    n_done = n_before + runner.n_written
    status = runner.stop_reason or ("completed" if n_done >= n_planned else "incomplete")
    message = _message(status, n_done, n_planned, budget, sum(runner.errors.values()))
    await asyncio.to_thread(store.update_run, run_id, finished=status == "completed", status=status, message=message)
    return ReplaySummary(run_id, plan.dataset, status, n_planned, n_done, runner.n_written,
                         sum(runner.errors.values()), budget.spent, time.monotonic() - started, existing is not None,
                         message, dict(runner.errors))


def _agents(plan: RunPlan, store: Store, given: dict[str, Agent]) -> dict[str, Agent]:
    """One agent per arm: the ones given, else built from the config (prod_repeat shares prod's
    adapter when it has no section of its own)."""
    context = AgentContext(store, plan.dataset, plan.config.replay.concurrency, plan.config.base_dir)
    built: dict[int, Agent] = {}
    agents: dict[str, Agent] = {}
    for arm in plan.arms:
        if arm in given:
            agents[arm] = given[arm]
            continue
        if arm == "prod_repeat" and "prod" in given and arm not in plan.config.agents:
            agents[arm] = given["prod"]
            continue
        section = plan.config.agent_for(arm)
        if id(section) not in built:
            built[id(section)] = build_agent(section, context)
        agents[arm] = built[id(section)]
    return agents


async def _started(agents: dict[str, Agent]) -> None:
    for agent in {id(a): a for a in agents.values()}.values():
        await agent.start()


async def _closed(agents: dict[str, Agent]) -> None:
    for agent in {id(a): a for a in agents.values()}.values():
        try:
            await agent.close()
        except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
            pass


def _message(status: str, n_done: int, n_planned: int, budget: Budget, n_errors: int) -> str:
    if status == "budget_exhausted":
        return (f"budget of ${budget.limit_usd or 0:,.2f} exhausted after ${budget.spent:,.4f}: {n_done:,} of"
                f" {n_planned:,} responses; a larger budget lets a resume of this run continue")
    if status == "interrupted":
        return f"interrupted: {n_done:,} of {n_planned:,} responses kept; resume this run to finish it"
    if status == "incomplete":
        return f"{n_done:,} of {n_planned:,} responses; resume this run to finish it"
    return f"{n_done:,} responses ({n_errors:,} errors this session), ${budget.spent:,.4f} spent"
