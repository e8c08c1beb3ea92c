"""The LLM judge: pointwise 1-10 quality and swapped pairwise preference, on any OpenAI-compatible API.

Why it looks like this:
- Tasks are plain records built from the run's responses, so the orchestrator decides what is
  stored and this module only judges.
- Every call goes through the replay's retry machinery (`call_with_retries`) and the `openai`
  agent, so timeouts, 429/5xx retries and the scrubbing of the API key behave the same everywhere.
- A judgment is cached under a hash of what the judge saw (model, template and version, rubric,
  question, answers and tools in shown order): re-scoring unchanged texts costs nothing, in any
  run. Identical prompts within one run are judged once. Only successful judgments are cached;
  a pairwise cache entry holds the winning POSITION ("A", "B", "tie"), mapped to an arm per row.
- Answers that cannot be read become rows with error_type "unparseable" or "refusal"; failed
  calls become rows with the agent error's type. Scoring always goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

import jinja2
import polars as pl

from harness.agents.base import AgentContext, CallContext
from harness.agents.openai_chat import OpenAIAgent, OpenAIAgentConfig
from harness.config import JudgeConfig
from harness.errors import ConfigError
from harness.pricing import PriceTable
from harness.progress import progress_bar
from harness.records import AgentResult, Request, Usage
from harness.retry import Attempted, RetryPolicy, call_with_retries
from harness.secrets import remember_secret, scrub
from harness.store.scores import JUDGE_CACHE_COLUMNS
from harness.store.scores import JUDGMENT_COLUMNS as _STORED_JUDGMENT_COLUMNS

__all__ = [
    "DEFAULT_RUBRIC",
    "JUDGMENT_COLUMNS",
    "CACHE_COLUMNS",
    "JudgeTask",
    "JudgeTemplate",
    "JudgeCache",
    "JudgeRunStats",
    "Verdict",
    "UnparseableAnswer",
    "build_tasks",
    "load_templates",
    "cache_key",
    "parse_answer",
    "run_judge",
]

DEFAULT_RUBRIC = """\
A good answer:
- addresses what the user actually asked, completely;
- is factually correct and consistent with the tool results shown (it invents nothing);
- takes the right actions (tool calls) with the right arguments, and no unnecessary ones;
- is clear and appropriately concise, and safe (it refuses only what should be refused)."""

JUDGMENT_COLUMNS = tuple(c for c in _STORED_JUDGMENT_COLUMNS if c != "run_id")
"""The columns of a judgment row, in order (the caller adds run_id and created_at)."""

CACHE_COLUMNS = JUDGE_CACHE_COLUMNS
"""The columns of a judge-cache row, in order (the caller adds created_at)."""

Kind = Literal["pointwise", "pairwise"]
_TEMPLATES_DIR = Path(__file__).parent / "prompts"
_VERSION_LINE = re.compile(r"\{#-?\s*version:\s*([\w.\-]+)\s*-?#\}")
_BATCH_ROWS = 200
_BATCH_INTERVAL_S = 1.0
_MESSAGE_CHARS = 2000
_RATIONALE_CHARS = 1000
_NOTHING_USED = Usage(input_tokens=0, output_tokens=0)


@dataclass(frozen=True)
class JudgeTask:
    """One judgment to make.

    Pointwise: `arm_a` is the judged arm; `arm_b` and `order` are "", `answer_b`/`tools_b` None.
    Pairwise: `answer_a`/`tools_a` belong to `arm_a`; `order` "ab" shows arm_a's answer as A,
    "ba" shows arm_b's answer as A. `tools_*` are compact tool-call JSON text or None.
    """

    request_id: str
    kind: Kind
    arm_a: str
    arm_b: str
    sample: int
    order: str
    question: str
    answer_a: str
    tools_a: str | None
    answer_b: str | None
    tools_b: str | None
    truncated: tuple[str, ...] = ()
    """Which of question, answer_a, tools_a, answer_b, tools_b were cut to `max_chars` (see build_tasks)."""

    def shown(self) -> tuple[str, str | None, str | None, str | None]:
        """(answer A, tools A, answer B, tools B) as the judge sees them."""
        if self.order == "ba":
            return self.answer_b or "", self.tools_b, self.answer_a, self.tools_a
        return self.answer_a, self.tools_a, self.answer_b, self.tools_b

    def arm_at(self, position: str) -> str:
        """The arm whose answer was shown at `position` ("A" or "B"); "tie" stays "tie"."""
        if position == "tie":
            return "tie"
        first, second = (self.arm_b, self.arm_a) if self.order == "ba" else (self.arm_a, self.arm_b)
        return first if position == "A" else second


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


# --- tasks -------------------------------------------------------------------------------

_PAIRS = (("prod", "candidate"), ("prod", "prod_repeat"))


def build_tasks(responses: pl.DataFrame, requests: pl.DataFrame, config: JudgeConfig,
                max_chars: int | None = None) -> list[JudgeTask]:
    """The judgments a run needs, in a stable order.

    Pointwise for every successful prod and candidate response; pairwise, in both orders, for
    prod vs candidate and prod vs prod_repeat wherever both answered the same sample index.
    `responses`: request_id, arm, sample, output, tool_calls, error_type; `requests`: request_id, input_text.
    With `max_chars`, a longer question, answer or tool-call text is cut to that many characters and
    ends with a note saying so (the judge sees it; the task lists what was cut in `truncated`).
    """
    questions = dict(zip(requests["request_id"].to_list(), requests["input_text"].to_list(), strict=True))
    ok = responses.filter(pl.col("error_type").is_null() & pl.col("output").is_not_null())
    columns = ok.select("request_id", "arm", "sample", "output", "tool_calls")
    answers: dict[tuple[str, str, int], tuple[_Cut, _Cut]] = {
        (rid, arm, int(sample)): (_cut(output, max_chars), _cut(_compact_tools(tools), max_chars))
        for rid, arm, sample, output, tools in columns.iter_rows()
    }
    tasks: list[JudgeTask] = []
    for rid, sample in sorted({(rid, sample) for rid, _arm, sample in answers}):
        question = _cut(questions.get(rid) or "", max_chars)
        if config.pointwise:
            for arm in ("prod", "candidate"):
                if (rid, arm, sample) in answers:
                    answer, tools = answers[(rid, arm, sample)]
                    cut = _cut_names(question=question, answer_a=answer, tools_a=tools)
                    tasks.append(JudgeTask(rid, "pointwise", arm, "", sample, "", question.text, answer.text,
                                           tools.text, None, None, cut))  # fmt: skip
        if config.pairwise:
            for arm_a, arm_b in _PAIRS:
                if (rid, arm_a, sample) in answers and (rid, arm_b, sample) in answers:
                    answer_a, tools_a = answers[(rid, arm_a, sample)]
                    answer_b, tools_b = answers[(rid, arm_b, sample)]
                    cut = _cut_names(question=question, answer_a=answer_a, tools_a=tools_a, answer_b=answer_b,
                                     tools_b=tools_b)
                    for order in ("ab", "ba"):
                        tasks.append(
                            JudgeTask(rid, "pairwise", arm_a, arm_b, sample, order, question.text,
                                      answer_a.text, tools_a.text, answer_b.text, tools_b.text, cut)
                        )  # fmt: skip
    return tasks


@dataclass(frozen=True)
class _Cut:
    text: Any
    cut: bool


def _cut(text: str | None, max_chars: int | None) -> _Cut:
    """`text`, cut to `max_chars` characters with a note that says so."""
    if text is None or max_chars is None or len(text) <= max_chars:
        return _Cut(text, False)
    return _Cut(f"{text[:max_chars]}\n[... cut by the harness: only the first {max_chars:,} characters are shown]", True)


def _cut_names(**parts: _Cut) -> tuple[str, ...]:
    return tuple(name for name, part in parts.items() if part.cut)


def _compact_tools(text: str | None) -> str | None:
    """Tool calls as compact JSON, None when there are none; text that is not JSON is kept as is."""
    if text is None:
        return None
    try:
        calls = json.loads(text)
    except ValueError:
        return text
    if not calls:
        return None
    return json.dumps(calls, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# --- templates and cache keys ------------------------------------------------------------


@dataclass(frozen=True)
class JudgeTemplate:
    """A prompt template: its kind, version ("1", or "custom:1" for a user's own) and source file."""

    name: Kind
    version: str
    path: Path
    template: jinja2.Template

    def render(self, task: JudgeTask, rubric: str) -> str:
        """The prompt for one task; a user's template that fails on real data is a ConfigError."""
        if task.kind == "pointwise":
            values = {"question": task.question, "answer": task.answer_a, "tools": task.tools_a, "rubric": rubric}
        else:
            answer_a, tools_a, answer_b, tools_b = task.shown()
            values = {"question": task.question, "answer_a": answer_a, "tools_a": tools_a,
                      "answer_b": answer_b, "tools_b": tools_b}  # fmt: skip
        try:
            return self.template.render(**values).strip()
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{self.path}: judge template does not render: {exc}") from None


_SAMPLE_VALUES = (
    {"question": "q", "answer": "a", "tools": "[]", "rubric": "r",
     "answer_a": "a", "tools_a": "[]", "answer_b": "b", "tools_b": "[]"},
    {"question": "q", "answer": "a", "tools": None, "rubric": "r",
     "answer_a": "a", "tools_a": None, "answer_b": "b", "tools_b": None},
)  # fmt: skip
"""Rendered once at load, with and without tool calls, so a broken template fails before any call."""


def load_templates(config: JudgeConfig) -> dict[str, JudgeTemplate]:
    """The pointwise and pairwise templates: from `config.templates_dir` when it has them, else built in.

    Raises ConfigError, naming the file, for a template without a version line or that does not render.
    """
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False
    )
    custom = Path(config.templates_dir) if config.templates_dir else None
    if custom is not None and not custom.is_dir():
        raise ConfigError(f"judge.templates_dir: {custom} is not a directory")
    templates: dict[str, JudgeTemplate] = {}
    for name in ("pointwise", "pairwise"):
        path = _TEMPLATES_DIR / f"{name}.j2"
        prefix = ""
        if custom is not None and (custom / f"{name}.j2").is_file():
            path, prefix = custom / f"{name}.j2", "custom:"
        templates[name] = _load_template(environment, name, path, prefix)
    return templates


def _load_template(environment: jinja2.Environment, name: Kind, path: Path, prefix: str) -> JudgeTemplate:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read judge template: {exc}") from None
    first_line = source.split("\n", 1)[0].strip()
    match = _VERSION_LINE.fullmatch(first_line)
    if match is None:
        raise ConfigError(f"{path}: a judge template must start with a version line like {{# version: 1 #}}")
    try:
        template = environment.from_string(source)
        for values in _SAMPLE_VALUES:
            template.render(**values)
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: judge template does not render: {exc}") from None
    return JudgeTemplate(name, prefix + match.group(1), path, template)


def cache_key(task: JudgeTask, template: JudgeTemplate, config: JudgeConfig) -> str:
    """sha256 over what the judge is asked: same texts, model and template version => same key."""
    if task.kind == "pointwise":
        parts = [task.question, _rubric(config), task.answer_a, task.tools_a]
    else:
        parts = [task.question, *task.shown()]
    payload = json.dumps([config.model, template.name, template.version, *parts], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _rubric(config: JudgeConfig) -> str:
    return config.rubric if config.rubric is not None else DEFAULT_RUBRIC


# --- parsing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A parsed judge answer. Pointwise: verdict is the 1-10 integer as text, score (s-1)/9.
    Pairwise: verdict is the winning position "A", "B" or "tie", score None."""

    verdict: str
    score: float | None
    rationale: str | None


class UnparseableAnswer(Exception):
    """The judge's answer holds no usable verdict; `error_type` is "unparseable" or "refusal"."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
_SCORE = re.compile(r"""\bscore["']?\s*(?:[:=]|is)?\s*["']?(\d+(?:\.\d+)?)""", re.I)
_OUT_OF_TEN = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.I)
_WINNER = re.compile(  # A and B in capitals only: "the winner is a tie" names no answer "a"
    r"""(?i:\bwinner)["']?\s*(?:[:=]|(?i:is))?\s*["']?\s*(?:(?i:answer)\s*)?(A|B|(?i:(?:a\s+)?tie))\b"""
)
_RATIONALE = re.compile(r"""\brationale["']?\s*[:=]\s*""", re.I)
_REFUSAL = re.compile(
    r"^\W*(i['’]?m sorry|i am sorry|sorry,|i can['’]?t|i cannot|i can not|i won['’]?t|"
    r"i['’]?m (not able|unable)|i am (not able|unable)|as an ai)",
    re.I,
)


def parse_answer(kind: Kind, text: str | None) -> Verdict:
    """Read a judge's answer: strict JSON (bare or in a ```json fence) first, then tolerant patterns
    such as `score: 7`, `7/10`, `Winner: A`. Raises UnparseableAnswer for anything else or out of range."""
    if text is None or not text.strip():
        raise UnparseableAnswer("unparseable", "the judge gave an empty answer")
    data = _json_object(text)
    field = "score" if kind == "pointwise" else "winner"
    if data is not None and field in data:
        value, rationale = data[field], data.get("rationale")
        rationale = rationale if isinstance(rationale, str) else None
    else:
        match = (_SCORE.search(text) or _OUT_OF_TEN.search(text)) if kind == "pointwise" else _WINNER.search(text)
        if match is None:
            raise _unreadable(text)
        value, rationale = match.group(1), _loose_rationale(text)
    return _pointwise(value, rationale, text) if kind == "pointwise" else _pairwise(value, rationale, text)


def _pointwise(value: Any, rationale: str | None, text: str) -> Verdict:
    score = _integer(value)
    if score is None:
        raise _unreadable(text)
    if not 1 <= score <= 10:
        raise UnparseableAnswer("unparseable", f"score {score} is outside 1-10")
    return Verdict(str(score), (score - 1) / 9, _clip(rationale))


def _pairwise(value: Any, rationale: str | None, text: str) -> Verdict:
    word = " ".join(str(value).split()).lower() if isinstance(value, str) else ""
    word = word.removeprefix("answer ").removeprefix("a ")
    position = {"a": "A", "b": "B", "tie": "tie"}.get(word)
    if position is None:
        raise UnparseableAnswer("unparseable", f"winner {value!r} is not A, B or tie")
    return Verdict(position, None, _clip(rationale))


def _json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in the answer: all of it, a fenced block, or the outermost braces."""
    candidates = [text.strip(), *(m.group(1) for m in _FENCE.finditer(text))]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _integer(value: Any) -> int | None:
    """An integral number (7, 7.0, "7"); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    return None


def _loose_rationale(text: str) -> str:
    """What follows a `rationale:` label, else the whole answer."""
    match = _RATIONALE.search(text)
    if match is None:
        return text.strip()
    return text[match.end() :].strip().rstrip("}").strip().strip("\"'").strip()


def _clip(text: str | None) -> str | None:
    return text[:_RATIONALE_CHARS] if text else None


def _unreadable(text: str) -> UnparseableAnswer:
    snippet = " ".join(text.split())[:200]
    if _REFUSAL.match(text):
        return UnparseableAnswer("refusal", f"the judge refused: {snippet}")
    return UnparseableAnswer("unparseable", f"no verdict in the judge's answer: {snippet}")


# --- running -----------------------------------------------------------------------------


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
    """One `run_judge`: cache lookup, a pool of workers, and batched hand-over of rows.

    The sink and the cache are called synchronously from the event loop: a batch is small,
    and it keeps them single-threaded and in order even when the run is interrupted.
    """

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
        self.rows: list[dict[str, Any]] = []
        self.cache_rows: list[dict[str, Any]] = []
        self.flushed_at = time.monotonic()
        self.sink_failed = False
        remember_secret(os.environ.get(config.api_key_env) if config.api_key_env else None)

    async def execute(self, tasks: list[JudgeTask], progress: bool) -> JudgeRunStats:
        self.stats.n_tasks = len(tasks)
        groups = self._groups(tasks) if tasks else {}
        cached = self.cache.lookup(list(groups)) if groups else {}
        with progress_bar(progress) as bar:
            bar_task = bar.add_task("judge", total=len(tasks), status="")

            def update() -> None:
                bar.update(bar_task, completed=self.n_rows, status=self._status())

            try:
                for key in [key for key in groups if key in cached]:
                    self._add(self._cached_rows(groups.pop(key), cached[key]))
                    self._flush_if_due()
                update()
                if groups:
                    await self._judge_all(list(groups.values()), update)
            finally:
                if not self.sink_failed:
                    self._flush()
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
        rubric = _rubric(self.config)

        async def worker() -> None:
            for group in pending:
                prompt = group.template.render(group.tasks[0], rubric)
                request = Request(request_id=group.key, input={"messages": [{"role": "user", "content": prompt}]})
                outcome = await call_with_retries(partial(agent.call, request, CallContext()), self.policy, rng=self.rng)
                self._add(self._called_rows(group, outcome))
                self._flush_if_due()
                update()

        workers = [asyncio.create_task(worker()) for _ in range(min(self.config.concurrency, len(groups)))]
        everyone = asyncio.gather(*workers)
        try:
            while not everyone.done():  # rows of slow calls still reach the sink within about a second
                await asyncio.wait([everyone], timeout=_BATCH_INTERVAL_S)
                self._flush_if_due()
            await everyone
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await agent.close()

    def _cached_rows(self, group: _Group, entry: dict[str, Any]) -> list[dict[str, Any]]:
        verdict = Verdict(entry["verdict"], entry["score"], entry["rationale"])
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
            self.cache_rows.append(
                {
                    "cache_key": group.key, "kind": group.template.name, "judge_model": self.config.model,
                    "template_version": group.template.version, "verdict": verdict.verdict, "score": verdict.score,
                    "rationale": verdict.rationale and self._scrub(verdict.rationale),
                    "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "cost_usd": cost,
                }  # fmt: skip
            )
        first, *duplicates = group.tasks
        rows = [self._row(first, group, verdict, cached=False, error=error, usage=usage, cost=cost)]
        rows += [self._row(task, group, verdict, cached=verdict is not None, error=error) for task in duplicates]
        self.stats.n_cached += len(duplicates) if verdict is not None else 0
        return rows

    def _row(
        self,
        task: JudgeTask,
        group: _Group,
        verdict: Verdict | None,
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
        self.rows.extend(rows)
        self.n_rows += len(rows)

    def _flush_if_due(self) -> None:
        if len(self.rows) >= _BATCH_ROWS or time.monotonic() - self.flushed_at >= _BATCH_INTERVAL_S:
            self._flush()

    def _flush(self) -> None:
        rows, self.rows = self.rows, []
        cache_rows, self.cache_rows = self.cache_rows, []
        self.flushed_at = time.monotonic()
        try:
            if cache_rows:
                self.cache.save(cache_rows)
            if rows:
                self.sink(rows)
        except BaseException:
            self.sink_failed = True
            raise

    def _status(self) -> str:
        s = self.stats
        return f"{s.n_called} called, {s.n_cached} cached, {s.n_errors} errors, ${s.cost_usd:,.4f}"
