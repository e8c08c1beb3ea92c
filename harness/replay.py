"""Replay: a dataset through the prod, prod_repeat and candidate arms, resumably.

asyncio with a fixed pool of workers (the concurrency), the arms of one request queued
together in random order, every attempt under the retry policy, a run-level budget,
results written in batches by one writer task. Killing the process at any moment loses
at most the unwritten batch: a rerun with the same run id redoes exactly what is missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from harness.agents import Agent, AgentContext, CallContext, build_agent
from harness.config import HarnessConfig, ReplayConfig, load_config
from harness.errors import (
    AgentCancelled,
    NotFoundError,
    ReplayError,
    StoreConflictError,
    StoreDataError,
)
from harness.limits import MAX_COST_USD
from harness.names import check_run_id
from harness.pricing import PriceTable
from harness.progress import console, progress_bar
from harness.records import AgentResult, Request, storable
from harness.retry import Attempted, RetryPolicy, call_with_retries
from harness.secrets import redact, scrub
from harness.store import Store, open_store
from harness.store.runs import RESPONSE_COLUMNS

__all__ = ["replay", "replay_async", "ReplaySummary", "repeat_selected", "new_run_id"]

_RESPONSE_SCHEMA = {
    "run_id": pl.String, "request_id": pl.String, "arm": pl.String, "sample": pl.Int32,
    "output": pl.String, "tool_calls": pl.String, "n_tool_calls": pl.Int32,
    "input_tokens": pl.Int64, "output_tokens": pl.Int64, "cached_input_tokens": pl.Int64,
    "cost_usd": pl.Float64, "latency_ms": pl.Float64, "model": pl.String,
    "error_type": pl.String, "error_message": pl.String, "attempts": pl.Int32,
    "started_at": pl.Datetime("us", "UTC"), "finished_at": pl.Datetime("us", "UTC"),
    "harness_cancelled": pl.Boolean, "invalid_values": pl.String,
}  # fmt: skip
assert tuple(_RESPONSE_SCHEMA) == RESPONSE_COLUMNS


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


def new_run_id() -> str:
    """A sortable, unique run id: run-YYYYmmdd-HHMMSS-xxxx."""
    return f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"


def repeat_selected(seed: int, request_id: str, fraction: float) -> bool:
    """Whether a request also gets prod_repeat: stable across runs, machines and resumes.

    md5 of "seed:request_id", first 32 bits as a fraction of 2**32 (the store counts the
    same way in SQL).
    """
    if fraction >= 1:
        return True
    if fraction <= 0:
        return False
    digest = hashlib.md5(f"{seed}:{request_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32 < fraction


def replay(
    config: HarnessConfig | str | Path,
    *,
    store: Store | None = None,
    dataset: str | None = None,
    run_id: str | None = None,
    profile: str | None = None,
    progress: bool = True,
) -> ReplaySummary:
    """Replay a dataset through the configured arms (or resume `run_id`). Works in notebooks too."""
    coroutine = replay_async(config, store=store, dataset=dataset, run_id=run_id, profile=profile, progress=progress)
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
    progress: bool = True,
) -> ReplaySummary:
    """The coroutine behind replay()."""
    if run_id is not None:
        check_run_id(run_id)
    if not isinstance(config, HarnessConfig):
        config = load_config(config, profile=profile)
    store = store or open_store(config.db)
    return await _Replayer(config, store, dataset, run_id, profile, progress).run()


class _Call:
    __slots__ = ("request", "arm", "sample")

    def __init__(self, request: Request, arm: str, sample: int) -> None:
        self.request = request
        self.arm = arm
        self.sample = sample


class _Replayer:
    def __init__(
        self,
        config: HarnessConfig,
        store: Store,
        dataset: str | None,
        run_id: str | None,
        profile: str | None,
        progress: bool,
    ) -> None:
        self.config = config
        self.settings: ReplayConfig = config.replay
        self.store = store
        self.dataset = dataset or self.settings.dataset or ""
        if not self.dataset:
            raise ReplayError("no dataset to replay: pass --dataset or set replay.dataset in the config")
        for arm in ("prod", "candidate"):
            if arm not in config.agents:
                raise ReplayError(f"a replay needs [agents.{arm}] in the config")
        self.run_id = run_id or new_run_id()
        self.profile = profile
        self.progress = progress
        self.arms = ["prod", "candidate"] + (["prod_repeat"] if self.settings.prod_repeat_fraction > 0 else [])
        self.rng = random.Random(f"{self.settings.seed}:{self.run_id}")
        self.prices = PriceTable.with_overrides(config.prices)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        # live state
        self.agents: dict[str, Agent] = {}
        self.policies: dict[str, RetryPolicy] = {}
        self.buffer: list[tuple[Any, ...]] = []
        self.flush_now = asyncio.Event()
        self.closing = False
        self.stop_reason: str | None = None
        self.stopped = asyncio.Event()
        self.stop_at = 0.0
        self.hard_stop = False
        self.spent = 0.0
        self.max_cost = 0.0
        self.in_flight = 0
        self.n_new = 0
        self.n_written = 0
        self.errors: Counter[str] = Counter()
        self.write_error: BaseException | None = None

    # ---- plan and run row ---------------------------------------------------------------

    def _plan(self) -> dict[str, Any]:
        s = self.settings
        return {
            "dataset": self.dataset,
            "arms": self.arms,
            "repeats": s.repeats,
            "prod_repeat_fraction": s.prod_repeat_fraction,
            "seed": s.seed,
            "agents": {
                arm: redact(self.config.agent_for(arm).model_dump(mode="json", exclude={"timeout_s"}))
                for arm in self.arms
            },
        }

    def _open_run(self) -> tuple[dict[str, Any] | None, int]:
        """Create the run row, or validate and claim an existing one; returns (existing, n_planned)."""
        self.store.dataset(self.dataset)  # NotFoundError when missing
        plan = self._plan()
        digest = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]
        snapshot = redact(self.config.model_dump(mode="json"))
        existing = self._existing_run()
        s = self.settings
        if existing is None:
            n_planned = self.store.count_planned(self.dataset, s.repeats, s.prod_repeat_fraction, s.seed)
            try:
                self.store.create_run({
                    "run_id": self.run_id, "dataset": self.dataset, "status": "running", "profile": self.profile,
                    "config": snapshot, "plan": plan, "plan_digest": digest, "n_planned": n_planned,
                    "harness_version": _version(), "owner": self.owner,
                })  # fmt: skip
            except StoreConflictError:
                raise ReplayError(f"run {self.run_id} is already running: another process started it at the same"
                                  " moment") from None
            return None, n_planned
        if existing["dataset"] != self.dataset:
            raise ReplayError(f"run {self.run_id} replays dataset {existing['dataset']!r}, not {self.dataset!r}")
        if existing["plan_digest"] != digest:
            changed = _changed_keys(existing.get("plan") or {}, plan)
            raise ReplayError(
                f"run {self.run_id} was started with a different plan (changed: {', '.join(changed)});"
                " resume it with the same agents, arms, repeats and seed, or start a new run"
            )
        if existing["status"] == "running" and _owner_alive(existing.get("owner"), self.owner):
            raise ReplayError(f"run {self.run_id} is already running: {existing['owner']} is replaying it right now")
        return existing, int(existing["n_planned"])

    def _existing_run(self) -> dict[str, Any] | None:
        try:
            return self.store.run(self.run_id)
        except NotFoundError:
            return None

    # ---- the run --------------------------------------------------------------------------

    async def run(self) -> ReplaySummary:
        started = time.monotonic()
        existing, n_planned = await asyncio.to_thread(self._open_run)
        totals = await asyncio.to_thread(self.store.run_totals, self.run_id)
        if existing is not None and existing["status"] == "completed":
            return self._summary(existing["status"], n_planned, totals["n_responses"], started, resumed=True,
                                 message=f"run {self.run_id} already completed: nothing to do")
        if existing is not None:
            await asyncio.to_thread(self.store.clear_cancelled, self.run_id)
            totals = await asyncio.to_thread(self.store.run_totals, self.run_id)
            await asyncio.to_thread(
                self.store.update_run, self.run_id, status="running", owner=self.owner, message=None,
                config=redact(self.config.model_dump(mode="json")),
            )
        self.spent = totals["spend_usd"]
        self.max_cost = totals["max_cost_usd"]
        n_before = totals["n_responses"]
        budget = self.settings.budget_usd
        if budget is not None and self.spent >= budget and n_before < n_planned:
            self._stop("budget_exhausted")
        try:
            await self._start_agents()
            with progress_bar(self.progress) as bar:
                task = bar.add_task(f"replay {self.run_id}", total=n_planned, completed=n_before, status="")
                ticker = asyncio.create_task(self._tick(bar, task, n_before, started))
                try:
                    await self._replay_all()
                finally:
                    ticker.cancel()
                    self._update_bar(bar, task, n_before, started)
        except BaseException as exc:
            await asyncio.to_thread(
                self.store.update_run, self.run_id, status="failed", message=scrub(f"{type(exc).__name__}: {exc}"[:500])
            )
            raise
        finally:
            await self._close_agents()
        n_done = n_before + self.n_written
        status = self.stop_reason or ("completed" if n_done >= n_planned else "incomplete")
        message = self._message(status, n_done, n_planned)
        await asyncio.to_thread(
            self.store.update_run, self.run_id, finished=status == "completed", status=status, message=message
        )
        return self._summary(status, n_planned, n_done, started, resumed=existing is not None, message=message)

    def _message(self, status: str, n_done: int, n_planned: int) -> str:
        budget = self.settings.budget_usd
        if status == "budget_exhausted":
            return (f"budget of ${budget:,.2f} exhausted after ${self.spent:,.4f}: {n_done:,} of {n_planned:,}"
                    " responses; raise replay.budget_usd and rerun with the same --run-id to continue")
        if status == "interrupted":
            return f"interrupted: {n_done:,} of {n_planned:,} responses kept; rerun with the same --run-id to resume"
        if status == "incomplete":
            return f"{n_done:,} of {n_planned:,} responses; rerun with the same --run-id to finish"
        return f"{n_done:,} responses ({sum(self.errors.values()):,} errors this session), ${self.spent:,.4f} spent"

    def _summary(self, status: str, n_planned: int, n_done: int, started: float, *, resumed: bool,
                 message: str) -> ReplaySummary:
        return ReplaySummary(
            run_id=self.run_id, dataset=self.dataset, status=status, n_planned=n_planned, n_done=n_done,
            n_new=self.n_written, n_errors=sum(self.errors.values()), spend_usd=self.spent,
            elapsed_s=time.monotonic() - started, resumed=resumed, message=message,
            errors_by_type=dict(self.errors),
        )

    async def _start_agents(self) -> None:
        context = AgentContext(self.store, self.dataset, self.settings.concurrency, self.config.base_dir)
        built: dict[int, Agent] = {}
        for arm in self.arms:
            agent_config = self.config.agent_for(arm)
            # prod_repeat reuses prod's adapter when it has no section of its own.
            key = id(agent_config)
            if key not in built:
                built[key] = build_agent(agent_config, context)
                await built[key].start()
            self.agents[arm] = built[key]
            self.policies[arm] = RetryPolicy.from_settings(self.settings, agent_config.timeout_s)

    async def _close_agents(self) -> None:
        for agent in {id(a): a for a in self.agents.values()}.values():
            try:
                await agent.close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's outcome
                pass

    async def _replay_all(self) -> None:
        queue: asyncio.Queue[_Call | None] = asyncio.Queue(maxsize=self.settings.concurrency * 2)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.settings.concurrency)]
        writer = asyncio.create_task(self._writer())
        loop = asyncio.get_running_loop()
        handled = self._install_signals(loop)
        try:
            try:
                await self._produce_until_stopped(queue)
            finally:
                if self.stop_reason is not None:
                    _discard(queue)  # calls never started stay pending for a resume
                closing = asyncio.create_task(_close(queue, len(workers)))
                await self._finish(workers)
                closing.cancel()
        finally:
            self._remove_signals(loop, handled)
            self.closing = True
            self.flush_now.set()
            await writer
        if self.write_error is not None:
            raise self.write_error

    async def _produce_until_stopped(self, queue: asyncio.Queue[_Call | None]) -> None:
        """Queue every pending call, unless a stop comes first: then the producer is cancelled at
        once, even while it waits for room in a queue that busy workers are not emptying."""
        producer = asyncio.create_task(self._produce(queue))
        stopped = asyncio.create_task(self.stopped.wait())
        await asyncio.wait({producer, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not producer.done():
            producer.cancel()
        results = await asyncio.gather(producer, return_exceptions=True)
        if isinstance(results[0], BaseException) and not isinstance(results[0], asyncio.CancelledError):
            raise results[0]

    async def _produce(self, queue: asyncio.Queue[_Call | None]) -> None:
        chunk_size = max(2000, 4 * self.settings.concurrency)
        chunks = self.store.pending_chunks(self.run_id, self.dataset, chunk_size)
        unique_agents = list({id(a): a for a in self.agents.values()}.values())
        repeats = self.settings.repeats
        while self.stop_reason is None:
            item = await asyncio.to_thread(next, chunks, None)
            if item is None:
                return
            chunk, done = item
            ids = chunk["request_id"].to_list()
            for agent in unique_agents:
                await agent.prepare(ids)
            done_keys = set(zip(done["request_id"].to_list(), done["arm"].to_list(), done["sample"].to_list(),
                                strict=True))
            for row in chunk.iter_rows(named=True):
                rid = row["request_id"]
                calls = [
                    (arm, sample)
                    for arm in self._arms_for(rid)
                    for sample in range(repeats)
                    if (rid, arm, sample) not in done_keys
                ]
                if not calls:
                    continue
                self.rng.shuffle(calls)
                request = _request(row, self.dataset)
                for arm, sample in calls:
                    if self.stop_reason is not None:
                        return
                    await queue.put(_Call(request, arm, sample))

    def _arms_for(self, request_id: str) -> list[str]:
        fraction = self.settings.prod_repeat_fraction
        if "prod_repeat" in self.arms and not repeat_selected(self.settings.seed, request_id, fraction):
            return ["prod", "candidate"]
        return self.arms

    async def _worker(self, queue: asyncio.Queue[_Call | None]) -> None:
        """Take calls until the stop sentinel. A worker never dies of one call: whatever goes
        wrong while handling it is recorded against that request and the worker goes on."""
        while True:
            call = await queue.get()
            if call is None:
                return
            if self.stop_reason is not None:
                continue
            if not self._budget_allows():
                self._stop("budget_exhausted")
                continue
            try:
                await self._answer(call)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded against its request, never fatal
                self._record_fault(call, exc)

    async def _answer(self, call: _Call) -> None:
        agent = self.agents[call.arm]
        started_at = datetime.now(UTC)
        tries = 0
        stopping = lambda: self.stop_reason is not None  # noqa: E731

        def attempt(agent: Agent = agent, call: _Call = call) -> Any:
            nonlocal tries
            tries += 1
            return agent.call(call.request, CallContext(arm=call.arm, sample=call.sample))

        self.in_flight += 1
        try:
            outcome = await call_with_retries(attempt, self.policies[call.arm], rng=self.rng, stopping=stopping)
        except asyncio.CancelledError:
            cancelled = AgentCancelled(f"stopped ({self.stop_reason or 'cancelled'}) before the answer came")
            self._record(call, agent, Attempted(None, cancelled, max(tries, 1), 0.0), started_at)
            raise
        finally:
            self.in_flight -= 1
        self._record(call, agent, outcome, started_at)

    def _budget_allows(self) -> bool:
        budget = self.settings.budget_usd
        if budget is None:
            return True
        return self.spent < budget and self.spent + (self.in_flight + 1) * self.max_cost <= budget

    def _record(self, call: _Call, agent: Agent, outcome: Attempted[AgentResult], started_at: datetime) -> None:
        harness_cancelled = isinstance(outcome.error, AgentCancelled)
        if outcome.error is not None:
            result = AgentResult(error_type=outcome.error.error_type, error_message=str(outcome.error)[:2000])
            latency = None if harness_cancelled else outcome.latency_ms
        else:
            result = storable(outcome.value or AgentResult()).validated()
            latency = outcome.latency_ms if agent.measures_latency else result.latency_ms
        cost, invalid = self._cost(result, agent)
        error_type, error_message = result.error_type, result.error_message
        n_calls = len(result.tool_calls)
        limit = self.settings.max_tool_calls
        if error_type is None and limit is not None and n_calls > limit:
            error_type, error_message = "max_tool_calls", f"{n_calls} tool calls, over the limit of {limit}"
        usage = result.usage
        self.buffer.append((
            self.run_id, call.request.request_id, call.arm, call.sample, scrub(result.output),
            scrub(json.dumps([c.to_dict() for c in result.tool_calls], ensure_ascii=False, default=str)),
            n_calls, usage.input_tokens, usage.output_tokens, usage.cached_input_tokens, cost, latency,
            scrub(result.model or agent.model), error_type, scrub(error_message), outcome.attempts, started_at,
            datetime.now(UTC), harness_cancelled, json.dumps(invalid) if invalid else None,
        ))  # fmt: skip
        if error_type is not None:
            self.errors[error_type] += 1
        self.n_new += 1
        if len(self.buffer) >= self.settings.flush_rows:
            self.flush_now.set()

    def _cost(self, result: AgentResult, agent: Agent) -> tuple[float | None, dict[str, str]]:
        """The cost to store and the numbers not believed; charges the budget. A reported cost that
        is not believed is stored as unknown and never spent: for the budget the price table's cost
        stands in, else the most expensive valid answer so far."""
        invalid = dict(item.split("=", 1) for item in result.invalid)
        cost = self.prices.cost(result, agent.model)
        if cost is not None and not 0 <= cost <= MAX_COST_USD:
            invalid["cost_usd"] = f"{cost!r} (from the price table, outside 0 to {MAX_COST_USD:,.0f})"
            cost = None
        if "cost_usd" in invalid:
            self.spent += cost if cost is not None else self.max_cost
            return None, invalid
        if cost is not None:
            self.spent += cost
            self.max_cost = max(self.max_cost, cost)
        return cost, invalid

    def _record_fault(self, call: _Call, exc: BaseException) -> None:
        """Something failed while handling one answer: record it as that request's bad_response."""
        message = scrub(f"the answer could not be processed: {type(exc).__name__}: {exc}"[:2000])
        now = datetime.now(UTC)
        self.buffer.append((
            self.run_id, call.request.request_id, call.arm, call.sample, None, "[]", 0, None, None, None, None, None,
            None, "bad_response", message.encode("utf-8", "replace").decode("utf-8"), 1, now, now, False, None,
        ))  # fmt: skip
        self.errors["bad_response"] += 1
        self.n_new += 1

    # ---- writing --------------------------------------------------------------------------

    async def _writer(self) -> None:
        """Flush the buffer every flush_interval_s or flush_rows, until closing and empty."""
        failures = 0
        while True:
            try:
                await asyncio.wait_for(self.flush_now.wait(), timeout=self.settings.flush_interval_s)
            except TimeoutError:
                pass
            self.flush_now.clear()
            rows, self.buffer = self.buffer, []
            if rows:
                try:
                    await asyncio.to_thread(self._write, rows)
                    self.n_written += len(rows)
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - keep the rows and try again
                    self.buffer = rows + self.buffer
                    failures += 1
                    console.print(f"writing results failed ({scrub(str(exc))}); retrying", style="yellow",
                                  markup=False, highlight=False)
                    if failures >= 5:
                        self.write_error = exc
                        self._stop("failed")
                        return
                    await asyncio.sleep(min(2.0 * failures, 10.0))
            if self.closing and not self.buffer:
                return

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        """Write a batch; when the store rejects the data (not the disk or the lock), find the rows
        it rejects by halving, and store each of those as its request's bad_response instead."""
        try:
            self.store.write_responses(self.run_id, pl.DataFrame(rows, schema=_RESPONSE_SCHEMA, orient="row"))
        except StoreDataError as exc:
            if len(rows) > 1:
                half = len(rows) // 2
                self._write(rows[:half])
                self._write(rows[half:])
                return
            row = rows[0]
            message = scrub(f"the answer could not be stored: {exc}"[:2000])
            bad = (*row[:4], None, "[]", 0, None, None, None, None, row[11], None, "bad_response", message,
                   *row[15:18], False, None)
            self.store.write_responses(self.run_id, pl.DataFrame([bad], schema=_RESPONSE_SCHEMA, orient="row"))

    # ---- stopping ---------------------------------------------------------------------------

    def _stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_at = time.monotonic()
            self.stopped.set()

    async def _finish(self, workers: list[asyncio.Task[None]]) -> None:
        """Wait for the workers; once stopping, give in-flight calls the grace period, then cancel."""
        pending = set(workers)
        while pending:
            if self.stop_reason is None:
                _, pending = await asyncio.wait(pending, timeout=0.25)
                continue
            grace = 0.0 if self.hard_stop else self.settings.drain_grace_s
            remaining = self.stop_at + grace - time.monotonic()
            if remaining > 0:
                _, pending = await asyncio.wait(pending, timeout=min(remaining, 0.25))
                continue
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        if threading.current_thread() is not threading.main_thread():
            return []
        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal)
                handled.append(sig)
            except (NotImplementedError, RuntimeError):
                pass
        return handled

    def _remove_signals(self, loop: asyncio.AbstractEventLoop, handled: list[signal.Signals]) -> None:
        for sig in handled:
            loop.remove_signal_handler(sig)

    def _on_signal(self) -> None:
        if self.stop_reason is None:
            self._stop("interrupted")
            console.print(
                f"[yellow]stopping: in-flight calls get {self.settings.drain_grace_s:g}s to finish"
                " (Ctrl-C again to stop now)[/]"
            )
        else:
            self.hard_stop = True

    # ---- progress ---------------------------------------------------------------------------

    async def _tick(self, bar: Any, task: Any, n_before: int, started: float) -> None:
        while True:
            self._update_bar(bar, task, n_before, started)
            await asyncio.sleep(0.2)

    def _update_bar(self, bar: Any, task: Any, n_before: int, started: float) -> None:
        rate = self.n_new / max(time.monotonic() - started, 1e-9)
        status = f"{sum(self.errors.values()):,} errors · ${self.spent:,.4f} spent · {rate:,.0f}/s"
        bar.update(task, completed=n_before + self.n_new, status=status)


def _discard(queue: asyncio.Queue[_Call | None]) -> None:
    while not queue.empty():
        queue.get_nowait()


async def _close(queue: asyncio.Queue[_Call | None], n_workers: int) -> None:
    """One stop sentinel per worker, as room frees up (runs beside the draining, never blocking it)."""
    for _ in range(n_workers):
        await queue.put(None)


def _request(row: dict[str, Any], dataset: str) -> Request:
    return Request(
        request_id=row["request_id"],
        input=json.loads(row["input"]),
        user_id=row["user_id"],
        session_id=row["session_id"],
        timestamp=row["timestamp"],
        metadata=json.loads(row["metadata"]) if row["metadata"] else {},
        reference=json.loads(row["reference"]) if row["reference"] else None,
        dataset=dataset,
    )


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    changed: list[str] = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed or ["(unknown)"]


def _owner_alive(owner: str | None, me: str) -> bool:
    """True when another live process on this host owns the run."""
    if not owner or owner == me:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _version() -> str:
    from harness._version import __version__

    return __version__
