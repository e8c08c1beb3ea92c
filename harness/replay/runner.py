"""The replay's engine: a producer queues the calls a run owes, a fixed pool of workers answers
them under the retry policy and the budget, and one batched writer stores the responses.

The arms of one request are queued together in random order, so prod and candidate see the
same conditions. A stop (Ctrl-C, SIGTERM, the budget) lets nothing new start; calls in flight
get `drain_grace_s`, then they are cancelled and recorded as the harness's own cancellations,
which a resume redoes. A worker never dies of one call: whatever goes wrong while handling it
is recorded against that request.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from harness.agents import Agent, CallContext
from harness.config import HarnessConfig
from harness.errors import AgentCancelled, StoreDataError
from harness.pricing import PriceTable
from harness.progress import console, progress_bar
from harness.records import Response
from harness.replay.budget import Budget
from harness.replay.plan import Call, RunPlan
from harness.replay.responses import fault_response, rejected_response, to_response
from harness.replay.tooling import call_with_sandbox, write_with_events
from harness.retry import Attempted, RetryPolicy, call_with_retries
from harness.store import Store
from harness.tools import Sandbox
from harness.writer import BatchWriter

__all__ = ["Runner"]


class Runner:
    """One session of a run: answers what `plan` still owes, until done or stopped."""

    def __init__(self, plan: RunPlan, store: Store, agents: dict[str, Agent], budget: Budget, *,
                 progress: bool = True, sandbox: Sandbox | None = None) -> None:
        self.plan = plan
        self.sandbox = sandbox
        self.settings = plan.config.replay
        self.store = store
        self.agents = agents
        self.budget = budget
        self.progress = progress
        self.prices = PriceTable.with_overrides(plan.config.prices)
        self.policies = {arm: RetryPolicy.from_settings(self.settings, _agent_timeout(plan.config, arm))
                         for arm in agents}
        self.rng = random.Random(f"{self.settings.seed}:{plan.run_id}")
        self.writer: BatchWriter[Response] = BatchWriter(
            lambda rows: write_with_events(store, plan.run_id, rows, sandbox), rows=self.settings.flush_rows,
            interval_s=self.settings.flush_interval_s, isolate=self._isolate)
        self.writer.on_failure = lambda _exc: self.stop("failed")
        self.stop_reason: str | None = None
        self.stopped = asyncio.Event()
        self.stop_at = 0.0
        self.hard_stop = False
        self.n_new = 0
        self.errors: Counter[str] = Counter()

    @property
    def n_written(self) -> int:
        return self.writer.written

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_at = time.monotonic()
            self.stopped.set()

    async def run(self, n_before: int, n_planned: int) -> None:
        """Answer and store every owed call (or stop); raises the writer's error if it gave up."""
        started = time.monotonic()
        with progress_bar(self.progress) as bar:
            task = bar.add_task(f"replay {self.plan.run_id}", total=n_planned, completed=n_before, status="")
            ticker = asyncio.create_task(self._tick(bar, task, n_before, started))
            try:
                await self._replay_all()
            finally:
                ticker.cancel()
                self._update_bar(bar, task, n_before, started)

    async def _replay_all(self) -> None:
        queue: asyncio.Queue[Call | None] = asyncio.Queue(maxsize=self.settings.concurrency * 2)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.settings.concurrency)]
        self.writer.start()
        loop = asyncio.get_running_loop()
        handled = self._install_signals(loop)
        try:
            try:
                await self._produce_until_stopped(queue)
            finally:
                if self.stop_reason is not None:
                    _discard(queue)  # calls never started stay owed for a resume
                closing = asyncio.create_task(_close(queue, len(workers)))
                await self._finish(workers)
                closing.cancel()
        finally:
            self._remove_signals(loop, handled)
            await self.writer.close()

    async def _produce_until_stopped(self, queue: asyncio.Queue[Call | None]) -> None:
        """Queue every owed call, unless a stop comes first: then the producer is cancelled at
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

    async def _produce(self, queue: asyncio.Queue[Call | None]) -> None:
        # a small first chunk (twice the concurrency, in requests): the first calls need not wait for 2,000
        chunks = self.plan.calls(self.store, max(2000, 4 * self.settings.concurrency), 2 * self.settings.concurrency)
        unique_agents = list({id(a): a for a in self.agents.values()}.values())
        while self.stop_reason is None:
            item = await asyncio.to_thread(next, chunks, None)
            if item is None:
                return
            ids, owed = item
            for agent in unique_agents:
                await agent.prepare(ids)
            if self.sandbox is not None:
                await self.sandbox.prepare(ids)
            by_request: dict[str, list[Call]] = {}
            for call in owed:
                by_request.setdefault(call.request.request_id, []).append(call)
            for calls in by_request.values():
                self.rng.shuffle(calls)
                for call in calls:
                    if self.stop_reason is not None:
                        return
                    await queue.put(call)

    async def _worker(self, queue: asyncio.Queue[Call | None]) -> None:
        while True:
            call = await queue.get()
            if call is None:
                return
            if self.stop_reason is not None:
                continue
            if not self.budget.allows_one_more():
                self.stop("budget_exhausted")
                continue
            try:
                await self._answer(call)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded against its request, never fatal
                self._keep(fault_response(self.plan.run_id, call, exc))

    async def _answer(self, call: Call) -> None:
        agent = self.agents[call.arm]
        context = CallContext(arm=call.arm, sample=call.sample)
        started_at = datetime.now(UTC)
        tries = 0

        def attempt() -> Any:
            nonlocal tries
            tries += 1
            if self.sandbox is not None:
                return call_with_sandbox(self.sandbox, agent, call, tries)
            return agent.call(call.request, context)

        self.budget.in_flight += 1
        try:
            outcome = await call_with_retries(attempt, self.policies[call.arm], rng=self.rng,
                                              stopping=lambda: self.stop_reason is not None)
        except asyncio.CancelledError:
            cancelled = AgentCancelled(f"stopped ({self.stop_reason or 'cancelled'}) before the answer came")
            self._keep(self._response(call, agent, Attempted(None, cancelled, max(tries, 1), 0.0), started_at))
            raise
        finally:
            self.budget.in_flight -= 1
        self._keep(self._response(call, agent, outcome, started_at))

    def _response(self, call: Call, agent: Agent, outcome: Attempted[Any], started_at: datetime) -> Response:
        return to_response(self.plan.run_id, call, agent, outcome, started_at, prices=self.prices,
                           budget=self.budget, max_tool_calls=self.settings.max_tool_calls)

    def _keep(self, response: Response) -> None:
        self.writer.add(response)
        if response.error_type is not None:
            self.errors[response.error_type] += 1
        self.n_new += 1

    def _isolate(self, rows: list[Response], exc: StoreDataError) -> None:
        """The store rejected a batch for its data: halve it until the rejected rows are found, and
        store each of those as its request's bad_response instead."""
        if len(rows) == 1:
            write_with_events(self.store, self.plan.run_id, [rejected_response(rows[0], exc)], self.sandbox)
            return
        for half in (rows[: len(rows) // 2], rows[len(rows) // 2:]):
            try:
                write_with_events(self.store, self.plan.run_id, half, self.sandbox)
            except StoreDataError as inner:
                self._isolate(half, inner)

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
            self.stop("interrupted")
            console.print(f"stopping run {self.plan.run_id}: in-flight calls get {self.settings.drain_grace_s:g}s to"
                          " finish (Ctrl-C again to stop now)", style="yellow", markup=False, highlight=False)
        else:
            self.hard_stop = True

    async def _tick(self, bar: Any, task: Any, n_before: int, started: float) -> None:
        while True:
            self._update_bar(bar, task, n_before, started)
            await asyncio.sleep(0.2)

    def _update_bar(self, bar: Any, task: Any, n_before: int, started: float) -> None:
        rate = self.n_new / max(time.monotonic() - started, 1e-9)
        status = f"{sum(self.errors.values()):,} errors · ${self.budget.spent:,.4f} spent · {rate:,.0f}/s"
        bar.update(task, completed=n_before + self.n_new, status=status)


def _agent_timeout(config: HarnessConfig, arm: str) -> float | None:
    return config.agent_for(arm).timeout_s


def _discard(queue: asyncio.Queue[Call | None]) -> None:
    while not queue.empty():
        queue.get_nowait()


async def _close(queue: asyncio.Queue[Call | None], n_workers: int) -> None:
    """One stop sentinel per worker, as room frees up (runs beside the draining, never blocking it)."""
    for _ in range(n_workers):
        await queue.put(None)
