"""Running the judge: cached judgments served without a call, the rest asked with at most
`concurrency` calls in flight under the retry policy (through the `openai` agent, so timeouts,
retries and the scrubbing of the API key behave as in replay), rows written in batches.

Identical prompts within one run are judged once. Only successful judgments are cached; a
pairwise cache entry holds the winning POSITION ("A", "B", "tie"), mapped to an arm per row.
Answers that cannot be read become rows with error_type "unparseable" or "refusal"; failed
calls become rows with the agent error's type. Judging always goes on.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from harness.agents.base import AgentContext, CallContext
from harness.agents.openai_chat import OpenAIAgent, OpenAIAgentConfig
from harness.config import JudgeConfig
from harness.pricing import PriceTable
from harness.progress import progress_bar
from harness.records import AgentResult, Request, Usage
from harness.retry import Attempted, RetryPolicy, call_with_retries
from harness.scoring.judge.parsing import JudgeAnswer, UnparseableAnswer, parse_answer
from harness.scoring.judge.tasks import JudgeTask
from harness.scoring.judge.templates import JudgeTemplate, cache_key, load_templates, rubric
from harness.secrets import remember_secret, scrub
from harness.writer import BatchWriter

__all__ = ["JudgeRunStats", "JudgeCache", "run_judge"]

_BATCH_ROWS = 200
_BATCH_INTERVAL_S = 1.0
_MESSAGE_CHARS = 2000
_NOTHING_USED = Usage(input_tokens=0, output_tokens=0)


@dataclass
class JudgeRunStats:
    """What one `run_judge` did. `n_cached` counts rows served without a call of their own."""

    n_tasks: int = 0
    n_cached: int = 0
    n_called: int = 0
    n_errors: int = 0
    cost_usd: float = 0.0


class JudgeCache(Protocol):
    """Where successful judgments are kept between runs (the store's judge_cache table)."""

    def lookup(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached rows (CACHE_COLUMNS) of those keys that are cached, by key."""
        ...

    def save(self, rows: list[dict[str, Any]]) -> None:
        """Keep rows with exactly CACHE_COLUMNS."""
        ...



async def run_judge(
    tasks: Sequence[JudgeTask],
    config: JudgeConfig,
    prices: PriceTable,
    cache: JudgeCache,
    sink: Callable[[list[dict[str, Any]]], None],
    *,
    progress: bool = True,
) -> JudgeRunStats:
    """Judge every task, handing judgment rows (JUDGMENT_COLUMNS) to `sink` in batches.

    Cached tasks give rows with cost 0 and `cached` True without a call; the rest are judged
    with at most `config.concurrency` calls in flight, each under the retry policy. Rows are
    flushed every 200 rows or second and at the end (also when interrupted), with the new
    cache entries, so a killed process loses little. Raises ConfigError when the API key's
    environment variable is unset or a template is invalid; failed judgments are rows, not errors.
    """
    run = _JudgeRun(config, prices, cache, sink)
    return await run.execute(list(tasks), progress)


@dataclass
class _Group:
    """Tasks asking the judge the very same thing: one call (or cache entry) answers all of them."""

    key: str
    template: JudgeTemplate
    tasks: list[JudgeTask]


class _JudgeRun:
    """One `run_judge`: cache lookup, a pool of workers, and rows handed to the sink (and new
    cache entries to the cache) in batches by one writer off the event loop, which retries a
    write that fails for a passing reason (a reader holding the file)."""

    def __init__(
        self,
        config: JudgeConfig,
        prices: PriceTable,
        cache: JudgeCache,
        sink: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self.config = config
        self.prices = prices
        self.cache = cache
        self.sink = sink
        self.policy = RetryPolicy.from_settings(config)
        self.rng = random.Random()
        self.stats = JudgeRunStats()
        self.n_rows = 0
        self.writer: BatchWriter[tuple[str, dict[str, Any]]] = BatchWriter(self._write, rows=_BATCH_ROWS,
                                                                          interval_s=_BATCH_INTERVAL_S)
        remember_secret(os.environ.get(config.api_key_env) if config.api_key_env else None)

    async def execute(self, tasks: list[JudgeTask], progress: bool) -> JudgeRunStats:
        self.stats.n_tasks = len(tasks)
        groups = self._groups(tasks) if tasks else {}
        cached = self.cache.lookup(list(groups)) if groups else {}
        with progress_bar(progress) as bar:
            bar_task = bar.add_task("judge", total=len(tasks), status="")

            def update() -> None:
                bar.update(bar_task, completed=self.n_rows, status=self._status())

            self.writer.start()
            try:
                for key in [key for key in groups if key in cached]:
                    self._add(self._cached_rows(groups.pop(key), cached[key]))
                update()
                if groups:
                    await self._judge_all(list(groups.values()), update)
            finally:
                await self.writer.close()
                update()
        return self.stats

    def _groups(self, tasks: list[JudgeTask]) -> dict[str, _Group]:
        templates = load_templates(self.config)
        groups: dict[str, _Group] = {}
        for task in tasks:
            template = templates[task.kind]
            key = cache_key(task, template, self.config)
            groups.setdefault(key, _Group(key, template, [])).tasks.append(task)
        return groups

    async def _judge_all(self, groups: list[_Group], update: Callable[[], None]) -> None:
        agent_config = OpenAIAgentConfig(
            kind="openai",
            base_url=self.config.base_url,
            model=self.config.model,
            api_key_env=self.config.api_key_env,
            temperature=self.config.temperature,
            max_tokens=self.config.max_tokens,
        )
        agent = OpenAIAgent(agent_config, AgentContext(concurrency=self.config.concurrency))
        await agent.start()
        pending = iter(groups)
        shown_rubric = rubric(self.config)

        async def worker() -> None:
            for group in pending:
                prompt = group.template.render(group.tasks[0], shown_rubric)
                request = Request(request_id=group.key, input={"messages": [{"role": "user", "content": prompt}]})
                outcome = await call_with_retries(partial(agent.call, request, CallContext()), self.policy, rng=self.rng)
                self._add(self._called_rows(group, outcome))
                update()

        workers = [asyncio.create_task(worker()) for _ in range(min(self.config.concurrency, len(groups)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await agent.close()

    def _cached_rows(self, group: _Group, entry: dict[str, Any]) -> list[dict[str, Any]]:
        verdict = JudgeAnswer(entry["verdict"], entry["score"], entry["rationale"])
        self.stats.n_cached += len(group.tasks)
        return [self._row(task, group, verdict, cached=True, error=None) for task in group.tasks]

    def _called_rows(self, group: _Group, outcome: Attempted[AgentResult]) -> list[dict[str, Any]]:
        """Rows for one call: the first task carries tokens and cost, its duplicates cost nothing."""
        self.stats.n_called += 1
        result, verdict, error = outcome.value, None, None
        if outcome.error is not None:
            error = (outcome.error.error_type, str(outcome.error))
        else:
            assert result is not None
            try:
                verdict = parse_answer(group.template.name, result.output)
            except UnparseableAnswer as exc:
                error = (exc.error_type, str(exc))
        usage = Usage() if result is None else result.usage
        cost = None if result is None else self.prices.cost(result, self.config.model)
        self.stats.cost_usd += cost or 0.0
        if verdict is not None:
            self.writer.add((
                "cache", {
                    "cache_key": group.key, "kind": group.template.name, "judge_model": self.config.model,
                    "template_version": group.template.version, "verdict": verdict.verdict, "score": verdict.score,
                    "rationale": verdict.rationale and self._scrub(verdict.rationale),
                    "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "cost_usd": cost,
                }))  # fmt: skip
        first, *duplicates = group.tasks
        rows = [self._row(first, group, verdict, cached=False, error=error, usage=usage, cost=cost)]
        rows += [self._row(task, group, verdict, cached=verdict is not None, error=error) for task in duplicates]
        self.stats.n_cached += len(duplicates) if verdict is not None else 0
        return rows

    def _row(
        self,
        task: JudgeTask,
        group: _Group,
        verdict: JudgeAnswer | None,
        *,
        cached: bool,
        error: tuple[str, str] | None,
        usage: Usage = _NOTHING_USED,
        cost: float | None = 0.0,
    ) -> dict[str, Any]:
        """One judgment row; rows without a call of their own default to no tokens and no cost."""
        if error is not None:
            self.stats.n_errors += 1
        shown = None if verdict is None else verdict.verdict
        return {
            "request_id": task.request_id, "kind": task.kind, "arm_a": task.arm_a, "arm_b": task.arm_b,
            "sample": task.sample, "order": task.order,
            "verdict": task.arm_at(shown) if shown is not None and task.kind == "pairwise" else shown,
            "score": None if verdict is None else verdict.score,
            "rationale": None if verdict is None else verdict.rationale and self._scrub(verdict.rationale),
            "judge_model": self.config.model, "template_version": group.template.version,
            "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cost_usd": cost, "cached": cached,
            "error_type": None if error is None else error[0],
            "error_message": None if error is None else self._scrub(error[1])[:_MESSAGE_CHARS],
            "cache_key": group.key, "truncated": ",".join(task.truncated) or None,
        }  # fmt: skip

    def _scrub(self, text: str) -> str:
        """Defence in depth: a server echoing the Authorization header must not put the key in a row."""
        return scrub(text) or ""

    def _add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.writer.add(("judgment", row))
        self.n_rows += len(rows)

    def _write(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """New cache entries first, then the judgment rows (a cached judgment is never lost)."""
        cache_rows = [row for kind, row in items if kind == "cache"]
        rows = [row for kind, row in items if kind == "judgment"]
        if cache_rows:
            self.cache.save(cache_rows)
        if rows:
            self.sink(rows)

    def _status(self) -> str:
        s = self.stats
        return f"{s.n_called} called, {s.n_cached} cached, {s.n_errors} errors, ${s.cost_usd:,.4f}"
