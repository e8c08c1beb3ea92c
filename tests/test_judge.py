"""The LLM judge against a real local OpenAI-compatible server with scripted answers, and its statistics."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web

from harness.config import JudgeConfig, ScoringConfig
from harness.errors import ConfigError
from harness.pricing import default_prices
from harness.scoring.judge import (
    CACHE_COLUMNS,
    JUDGMENT_COLUMNS,
    JudgeRunStats,
    JudgeTask,
    UnparseableAnswer,
    build_tasks,
    cache_key,
    judge_diagnostics,
    judge_scores,
    load_templates,
    parse_answer,
    run_judge,
)
from harness.secrets import REDACTED
from tests.servers import serve

KEY = "sk-judge-very-secret-0123456789"
KEY_ENV = "HARNESS_TEST_JUDGE_KEY"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
TOOL_CALLS = '[{"name": "lookup_order", "arguments": {"id": "1"}}]'
COST_PER_CALL = (1000 * 0.4 + 100 * 1.6) / 1_000_000  # gpt-4.1-mini in the shipped price table


# --- the scripted judge ------------------------------------------------------------------


def chat(content: str) -> web.Response:
    return web.json_response(
        {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
            "model": "gpt-4.1-mini-2025-04-14",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": USAGE,
        }  # fmt: skip
    )


class FakeJudge:
    """POST /v1/chat/completions; the answer depends on the `q-...` marker in the judged question."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.authorizations: list[str | None] = []
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._handle)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    async def _handle(self, request: web.Request) -> web.Response:
        prompt = (await request.json())["messages"][-1]["content"]
        auth = request.headers.get("Authorization")
        self.authorizations.append(auth)
        marker = re.search(r"\bq-[\w-]+", prompt)
        assert marker is not None
        name = marker.group(0)
        self.calls[name] += 1
        if "<<<ANSWER A" in prompt:
            return self._pairwise(name, prompt)
        return self._pointwise(name, prompt, self.calls[name], auth)

    @staticmethod
    def _pairwise(name: str, prompt: str) -> web.Response:
        if name == "q-biased":
            return chat('{"winner": "A", "rationale": "The first one."}')
        shown_a = re.search(r"<<<ANSWER A\n(.*?)\nANSWER A>>>", prompt, re.S)
        shown_b = re.search(r"<<<ANSWER B\n(.*?)\nANSWER B>>>", prompt, re.S)
        assert shown_a and shown_b
        good_a, good_b = "GOOD" in shown_a.group(1), "GOOD" in shown_b.group(1)
        winner = "tie" if good_a == good_b else "A" if good_a else "B"
        return chat(json.dumps({"winner": winner, "rationale": f"{winner} is better."}))

    @staticmethod
    def _pointwise(name: str, prompt: str, n: int, auth: str | None) -> web.Response:
        answer = re.search(r"<<<ANSWER\n(.*?)\nANSWER>>>", prompt, re.S)
        assert answer is not None
        if name == "q-fence":
            return chat('Here you go:\n```json\n{"score": 9, "rationale": "Great."}\n```')
        if name == "q-loose":
            return chat('{"score": 4, rationale: vague and incomplete')
        if name == "q-hopeless":
            return chat(f"Looks fine to me. (you sent {auth})")
        if name == "q-refusal":
            return chat("I'm sorry, but I can't evaluate this conversation.")
        if name == "q-down" or (name == "q-flaky" and n == 1):
            return web.Response(status=500, text="judge exploded")
        if name == "q-slow429" and n == 1:
            return web.json_response({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "0.2"})
        if name == "q-limit":
            return web.json_response({"error": {"message": "quota"}}, status=429, headers={"Retry-After": "3600"})
        score = 3 if "meh" in answer.group(1) else 7
        return chat(json.dumps({"score": score, "rationale": "Fair enough."}))


@pytest.fixture
def judge_server() -> Any:
    server = FakeJudge()
    with serve(server.app) as url:
        server.base_url = f"{url}/v1"
        yield server


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def judge_config(base_url: str = "http://127.0.0.1:9/v1", **options: Any) -> JudgeConfig:
    settings: dict[str, Any] = {
        "base_url": base_url, "model": "gpt-4.1-mini", "api_key_env": KEY_ENV, "concurrency": 4,
        "timeout_s": 5, "max_attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_retry_after_s": 5,
    }  # fmt: skip
    return JudgeConfig(**(settings | options))


class MemoryCache:
    """The JudgeCache protocol over a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.lookups: list[list[str]] = []

    def lookup(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        self.lookups.append(keys)
        return {key: self.rows[key] for key in keys if key in self.rows}

    def save(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            assert tuple(row) == CACHE_COLUMNS
            self.rows[row["cache_key"]] = row


def judge(tasks: list[JudgeTask], config: JudgeConfig, cache: Any) -> tuple[list[dict[str, Any]], JudgeRunStats, list[int]]:
    rows: list[dict[str, Any]] = []
    batches: list[int] = []

    def sink(batch: list[dict[str, Any]]) -> None:
        batches.append(len(batch))
        rows.extend(batch)

    stats = asyncio.run(run_judge(tasks, config, default_prices(), cache, sink, progress=False))
    return rows, stats, batches


def frames(answers: list[tuple[str, str, int, str | None]], questions: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Responses (request_id, arm, sample, output) where output None means the call failed; and requests."""
    responses = pl.DataFrame(
        {
            "request_id": [a[0] for a in answers],
            "arm": [a[1] for a in answers],
            "sample": [a[2] for a in answers],
            "output": [a[3] for a in answers],
            "tool_calls": [TOOL_CALLS if a[1] != "candidate" else "[]" for a in answers],
            "error_type": [None if a[3] is not None else "timeout" for a in answers],
        },
        schema_overrides={"output": pl.String, "error_type": pl.String},
    )
    requests = pl.DataFrame({"request_id": list(questions), "input_text": list(questions.values())})
    return responses, requests


# --- tasks, templates, parsing -----------------------------------------------------------


def test_build_tasks_pointwise_and_both_orders_of_each_pair() -> None:
    responses, requests = frames(
        [
            ("r1", "prod", 0, "p0"), ("r1", "candidate", 0, "c0"), ("r1", "prod_repeat", 0, "pr0"),
            ("r1", "prod", 1, "p1"), ("r1", "candidate", 1, None), ("r1", "prod_repeat", 1, "pr1"),
            ("r2", "candidate", 0, "c"),
        ],
        {"r1": "question one", "r2": "question two"},
    )  # fmt: skip
    tasks = build_tasks(responses, requests, judge_config())
    described = [(t.request_id, t.kind, t.arm_a, t.arm_b, t.sample, t.order) for t in tasks]
    assert described == [
        ("r1", "pointwise", "prod", "", 0, ""),
        ("r1", "pointwise", "candidate", "", 0, ""),
        ("r1", "pairwise", "prod", "candidate", 0, "ab"),
        ("r1", "pairwise", "prod", "candidate", 0, "ba"),
        ("r1", "pairwise", "prod", "prod_repeat", 0, "ab"),
        ("r1", "pairwise", "prod", "prod_repeat", 0, "ba"),
        ("r1", "pointwise", "prod", "", 1, ""),
        ("r1", "pairwise", "prod", "prod_repeat", 1, "ab"),
        ("r1", "pairwise", "prod", "prod_repeat", 1, "ba"),
        ("r2", "pointwise", "candidate", "", 0, ""),
    ]
    first = tasks[2]
    assert (first.question, first.answer_a, first.answer_b) == ("question one", "p0", "c0")
    assert first.tools_a == '[{"arguments":{"id":"1"},"name":"lookup_order"}]' and first.tools_b is None
    assert tasks[3].shown() == ("c0", None, "p0", first.tools_a)
    assert (tasks[3].arm_at("A"), tasks[3].arm_at("B"), tasks[3].arm_at("tie")) == ("candidate", "prod", "tie")
    assert {t.kind for t in build_tasks(responses, requests, judge_config(pairwise=False))} == {"pointwise"}
    assert {t.kind for t in build_tasks(responses, requests, judge_config(pointwise=False))} == {"pairwise"}


def test_cache_key_depends_on_what_the_judge_sees() -> None:
    config = judge_config()
    templates = load_templates(config)
    task = JudgeTask("r1", "pairwise", "prod", "candidate", 0, "ab", "q", "x", None, "y", None)
    same_texts = JudgeTask("other", "pairwise", "prod", "prod_repeat", 3, "ab", "q", "x", None, "y", None)
    swapped = JudgeTask("r1", "pairwise", "prod", "candidate", 0, "ba", "q", "x", None, "y", None)
    key = cache_key(task, templates["pairwise"], config)
    assert cache_key(same_texts, templates["pairwise"], config) == key
    assert cache_key(swapped, templates["pairwise"], config) != key
    assert cache_key(task, templates["pairwise"], judge_config(model="gpt-4.1")) != key
    point = JudgeTask("r1", "pointwise", "prod", "", 0, "", "q", "x", None, None, None)
    assert cache_key(point, templates["pointwise"], config) != cache_key(
        point, templates["pointwise"], judge_config(rubric="Only brevity matters.")
    )


def test_custom_templates_need_a_version_line(tmp_path: Path) -> None:
    (tmp_path / "pointwise.j2").write_text("Rate {{ answer }} for {{ question }}. {{ rubric }} {{ tools }}\n")
    with pytest.raises(ConfigError, match=r"pointwise\.j2.*version line"):
        load_templates(judge_config(templates_dir=str(tmp_path)))
    (tmp_path / "pointwise.j2").write_text("{# version: 2 #}\nRate {{ answer }} for {{ question }}.\n")
    templates = load_templates(judge_config(templates_dir=str(tmp_path)))
    assert (templates["pointwise"].version, templates["pairwise"].version) == ("custom:2", "1")
    task = JudgeTask("r1", "pointwise", "prod", "", 0, "", "Where?", "Here.", None, None, None)
    assert templates["pointwise"].render(task, "rubric") == "Rate Here. for Where?."
    (tmp_path / "pairwise.j2").write_text("{# version: 1 #}\n{{ answer_a }} {{ nonsense }}\n")
    with pytest.raises(ConfigError, match=r"pairwise\.j2.*does not render"):
        load_templates(judge_config(templates_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="not a directory"):
        load_templates(judge_config(templates_dir=str(tmp_path / "missing")))


@pytest.mark.parametrize(
    ("kind", "text", "verdict"),
    [
        ("pointwise", '{"score": 7, "rationale": "ok"}', "7"),
        ("pointwise", 'Sure!\n```json\n{"score": 10, "rationale": "ok"}\n```', "10"),
        ("pointwise", "score: 6 because it is fine", "6"),
        ("pointwise", "I would give this a 8/10.", "8"),
        ("pairwise", '{"winner": "b", "rationale": "ok"}', "B"),
        ("pairwise", "Winner: A - it answers the question", "A"),
        ('pairwise', '{"winner": "tie", "rationale": "same"}', "tie"),
        ("pairwise", '"winner": "B", "rationale": "cut off', "B"),
    ],
)  # fmt: skip
def test_parse_answer_strict_then_tolerant(kind: Any, text: str, verdict: str) -> None:
    assert parse_answer(kind, text).verdict == verdict


@pytest.mark.parametrize(
    ("kind", "text", "error_type"),
    [
        ("pointwise", '{"score": 11, "rationale": "wow"}', "unparseable"),
        ("pointwise", '{"score": 6.5}', "unparseable"),
        ("pointwise", "It is a decent answer.", "unparseable"),
        ("pointwise", "", "unparseable"),
        ("pairwise", '{"winner": "C"}', "unparseable"),
        ("pairwise", "I cannot compare these answers.", "refusal"),
    ],
)  # fmt: skip
def test_parse_answer_failures(kind: Any, text: str, error_type: str) -> None:
    with pytest.raises(UnparseableAnswer) as info:
        parse_answer(kind, text)
    assert info.value.error_type == error_type


# --- run_judge against the server --------------------------------------------------------


def test_run_judge_end_to_end_with_cache(judge_server: FakeJudge) -> None:
    questions = {name: f"{name}: where is my order?" for name in
                 ("q-good", "q-biased", "q-same", "q-fence", "q-loose", "q-hopeless", "q-refusal",
                  "q-flaky", "q-down", "q-slow429", "q-limit")}  # fmt: skip
    answers = [
        ("q-good", "prod", 0, "GOOD: it shipped"), ("q-good", "candidate", 0, "meh"),
        ("q-good", "prod_repeat", 0, "GOOD: it shipped yesterday"),
        ("q-biased", "prod", 0, "one"), ("q-biased", "candidate", 0, "two"),
        ("q-same", "prod", 0, "GOOD same"), ("q-same", "prod_repeat", 0, "GOOD same"),
        *[(name, "prod", 0, "an answer") for name in list(questions)[3:]],
    ]  # fmt: skip
    responses, requests = frames(answers, questions)
    tasks = build_tasks(responses, requests, judge_config())
    assert len(tasks) == 6 + 4 + 3 + 8
    cache = MemoryCache()
    config = judge_config(judge_server.base_url)
    rows, stats, batches = judge(tasks, config, cache)

    assert len(rows) == len(tasks) and sum(batches) == len(rows)
    assert all(tuple(row) == JUDGMENT_COLUMNS for row in rows)
    by = {(r["request_id"], r["kind"], r["arm_a"], r["arm_b"], r["order"]): r for r in rows}

    # pointwise: raw integer as verdict, (s-1)/9 as score, cost from the price table
    good = by[("q-good", "pointwise", "prod", "", "")]
    assert (good["verdict"], good["score"], good["rationale"]) == ("7", pytest.approx(6 / 9), "Fair enough.")
    assert by[("q-good", "pointwise", "candidate", "", "")]["score"] == pytest.approx(2 / 9)
    assert (good["input_tokens"], good["output_tokens"]) == (1000, 100)
    assert good["cost_usd"] == pytest.approx(COST_PER_CALL)
    assert (good["judge_model"], good["template_version"], good["cached"]) == ("gpt-4.1-mini", "1", False)
    assert by[("q-fence", "pointwise", "prod", "", "")]["verdict"] == "9"
    loose = by[("q-loose", "pointwise", "prod", "", "")]
    assert (loose["verdict"], loose["rationale"], loose["error_type"]) == ("4", "vague and incomplete", None)

    # pairwise: the winning position is mapped to the arm through the order
    assert by[("q-good", "pairwise", "prod", "candidate", "ab")]["verdict"] == "prod"
    assert by[("q-good", "pairwise", "prod", "candidate", "ba")]["verdict"] == "prod"
    assert by[("q-good", "pairwise", "prod", "prod_repeat", "ab")]["verdict"] == "tie"
    assert by[("q-biased", "pairwise", "prod", "candidate", "ab")]["verdict"] == "prod"
    assert by[("q-biased", "pairwise", "prod", "candidate", "ba")]["verdict"] == "candidate"
    assert all(r["score"] is None for r in rows if r["kind"] == "pairwise")
    # identical answers make both orders one prompt: judged once, the twin row costs nothing
    same = [by[("q-same", "pairwise", "prod", "prod_repeat", order)] for order in ("ab", "ba")]
    assert same[0]["cache_key"] == same[1]["cache_key"] and judge_server.calls["q-same"] == 2
    assert [(r["verdict"], r["cached"], r["cost_usd"]) for r in same] == [
        ("tie", False, pytest.approx(COST_PER_CALL)), ("tie", True, 0.0)
    ]

    # failures are rows, and scoring went on
    errors = {r["request_id"]: (r["error_type"], r["error_message"]) for r in rows if r["error_type"]}
    assert set(errors) == {"q-hopeless", "q-refusal", "q-down", "q-limit"}
    assert errors["q-hopeless"][0] == "unparseable" and REDACTED in errors["q-hopeless"][1]
    assert errors["q-refusal"][0] == "refusal"
    assert errors["q-down"][0] == "http_error" and "500" in errors["q-down"][1]
    assert errors["q-limit"][0] == "rate_limited"
    assert by[("q-hopeless", "pointwise", "prod", "", "")]["cost_usd"] == pytest.approx(COST_PER_CALL)
    assert by[("q-down", "pointwise", "prod", "", "")]["cost_usd"] is None
    assert by[("q-flaky", "pointwise", "prod", "", "")]["verdict"] == "7"
    assert by[("q-slow429", "pointwise", "prod", "", "")]["verdict"] == "7"
    assert judge_server.calls["q-flaky"] == 2 and judge_server.calls["q-down"] == 3
    assert judge_server.calls["q-slow429"] == 2 and judge_server.calls["q-limit"] == 1

    # the key went to the server and nowhere else
    assert set(judge_server.authorizations) == {f"Bearer {KEY}"}
    assert all(KEY not in json.dumps(row) for row in rows)
    assert all(KEY not in json.dumps(row) for row in cache.rows.values())

    n_calls = len(tasks) - 1  # the q-same twin
    assert stats == JudgeRunStats(
        n_tasks=len(tasks), n_cached=1, n_called=n_calls, n_errors=4,
        cost_usd=pytest.approx(COST_PER_CALL * (n_calls - 2)),  # no usage from q-down, q-limit
    )  # fmt: skip
    # only successful judgments are cached; a pairwise entry holds the position, not the arm
    assert len(cache.rows) == n_calls - 4
    ab = cache.rows[by[("q-good", "pairwise", "prod", "candidate", "ab")]["cache_key"]]
    ba = cache.rows[by[("q-good", "pairwise", "prod", "candidate", "ba")]["cache_key"]]
    assert (ab["verdict"], ba["verdict"], ab["template_version"]) == ("A", "B", "1")

    # a second run over the successful tasks calls nothing and reproduces the verdicts at no cost
    ok_tasks = [t for t, r in zip(tasks, sorted_like(rows, tasks), strict=True) if r["error_type"] is None]
    seen = judge_server.total
    again, stats2, _ = judge(ok_tasks, config, cache)
    assert judge_server.total == seen
    assert stats2 == JudgeRunStats(n_tasks=len(ok_tasks), n_cached=len(ok_tasks), n_called=0, n_errors=0, cost_usd=0.0)
    assert all(r["cached"] and r["cost_usd"] == 0.0 for r in again)
    verdicts = {(r["request_id"], r["kind"], r["arm_a"], r["arm_b"], r["order"]): r["verdict"] for r in rows}
    assert all(verdicts[(r["request_id"], r["kind"], r["arm_a"], r["arm_b"], r["order"])] == r["verdict"] for r in again)

    # the order-dependent judge: both orders disagree, so its pairs are ties and never consistent
    frame = pl.DataFrame(rows)
    scores = judge_scores(frame)
    biased = scores.filter((pl.col("request_id") == "q-biased") & (pl.col("scorer") == "judge_pairwise"))
    assert biased["value"].to_list() == [0.0] and json.loads(biased["details"][0])["consistent"] is False
    diagnostics = judge_diagnostics(frame.filter(pl.col("request_id") == "q-biased"), requests, responses, None)
    assert dict(zip(diagnostics["metric"], diagnostics["value"], strict=True))["swap_consistency"] == 0.0


def sorted_like(rows: list[dict[str, Any]], tasks: list[JudgeTask]) -> list[dict[str, Any]]:
    """The rows in the order of the tasks they answer."""
    by = {(r["request_id"], r["kind"], r["arm_a"], r["arm_b"], r["sample"], r["order"]): r for r in rows}
    return [by[(t.request_id, t.kind, t.arm_a, t.arm_b, t.sample, t.order)] for t in tasks]


def test_cached_rows_reach_the_sink_in_batches() -> None:
    class EverythingCached(MemoryCache):
        def lookup(self, keys: list[str]) -> dict[str, dict[str, Any]]:
            return {key: {"verdict": "8", "score": 7 / 9, "rationale": "cached"} for key in keys}

    tasks = [JudgeTask(f"r{i}", "pointwise", "prod", "", 0, "", f"question {i}", "a", None, None, None) for i in range(450)]
    rows, stats, batches = judge(tasks, judge_config(), EverythingCached())
    assert batches == [200, 200, 50]
    assert stats.n_cached == 450 and stats.n_called == 0
    assert {(r["verdict"], r["cached"], r["cost_usd"], r["input_tokens"]) for r in rows} == {("8", True, 0.0, 0)}


def test_missing_api_key_is_a_config_error(judge_server: FakeJudge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    task = JudgeTask("r1", "pointwise", "prod", "", 0, "", "q-good", "a", None, None, None)
    with pytest.raises(ConfigError, match=KEY_ENV):
        judge([task], judge_config(judge_server.base_url), MemoryCache())
    assert judge_server.total == 0


# --- statistics on hand-made frames ------------------------------------------------------


def jrow(request_id: str, kind: str, arm_a: str, arm_b: str, order: str, verdict: str | None,
         sample: int = 0, error_type: str | None = None) -> dict[str, Any]:  # fmt: skip
    score = (int(verdict) - 1) / 9 if kind == "pointwise" and verdict is not None else None
    return {
        "request_id": request_id, "kind": kind, "arm_a": arm_a, "arm_b": arm_b, "sample": sample, "order": order,
        "verdict": verdict, "score": score, "rationale": None, "judge_model": "m", "template_version": "1",
        "input_tokens": 1, "output_tokens": 1, "cost_usd": 0.0, "cached": False, "error_type": error_type,
        "error_message": None, "cache_key": "k",
    }  # fmt: skip


def pair(request_id: str, arm_b: str, ab: str | None, ba: str | None) -> list[dict[str, Any]]:
    return [
        jrow(request_id, "pairwise", "prod", arm_b, order, verdict, error_type=None if verdict else "timeout")
        for order, verdict in (("ab", ab), ("ba", ba))
    ]


@pytest.fixture
def judged() -> pl.DataFrame:
    rows = [
        *pair("r1", "candidate", "candidate", "candidate"),  # candidate wins
        *pair("r2", "candidate", "prod", "candidate"),  # inconsistent: tie
        *pair("r3", "candidate", "tie", "tie"),  # tie
        *pair("r4", "candidate", "prod", "prod"),  # prod wins
        *pair("r1", "prod_repeat", "prod", "prod"),
        *pair("r2", "prod_repeat", "prod", "prod_repeat"),
        *pair("r3", "prod_repeat", "prod_repeat", "prod_repeat"),
        *pair("r4", "prod_repeat", None, "prod"),  # one order failed: no pair
        jrow("r1", "pointwise", "prod", "", "", "10"),
        jrow("r2", "pointwise", "prod", "", "", "5"),
        jrow("r3", "pointwise", "prod", "", "", "3"),
        jrow("r1", "pointwise", "candidate", "", "", "7", sample=0),
        jrow("r1", "pointwise", "candidate", "", "", "10", sample=1),
        jrow("r1", "pointwise", "candidate", "", "", None, sample=2, error_type="unparseable"),
    ]
    return pl.DataFrame(rows)


def test_judge_scores_count_a_win_only_when_both_orders_agree(judged: pl.DataFrame) -> None:
    scores = judge_scores(judged)
    values = {(r, s, a, b): v for r, s, a, b, v in scores.select("request_id", "scorer", "arm_a", "arm_b", "value").iter_rows()}
    assert values == {
        ("r1", "judge_pairwise", "candidate", "prod"): 1.0,
        ("r2", "judge_pairwise", "candidate", "prod"): 0.0,
        ("r3", "judge_pairwise", "candidate", "prod"): 0.0,
        ("r4", "judge_pairwise", "candidate", "prod"): -1.0,
        ("r1", "judge_pairwise", "prod_repeat", "prod"): -1.0,
        ("r2", "judge_pairwise", "prod_repeat", "prod"): 0.0,
        ("r3", "judge_pairwise", "prod_repeat", "prod"): 1.0,
        ("r1", "judge_quality", "prod", ""): 1.0,
        ("r2", "judge_quality", "prod", ""): pytest.approx(4 / 9),
        ("r3", "judge_quality", "prod", ""): pytest.approx(2 / 9),
        ("r1", "judge_quality", "candidate", ""): pytest.approx((6 / 9 + 1) / 2),
    }
    details = scores.filter((pl.col("request_id") == "r2") & (pl.col("arm_a") == "candidate"))["details"][0]
    assert json.loads(details) == {
        "n_samples": 1, "consistent": False,
        "samples": [{"sample": 0, "verdict_ab": "prod", "verdict_ba": "candidate", "consistent": False}],
    }  # fmt: skip
    assert json.loads(scores.filter(pl.col("arm_a") == "candidate", pl.col("scorer") == "judge_quality")["details"][0]) == {
        "n_samples": 2, "verdicts": ["7", "10"]
    }


def test_judge_diagnostics_and_human_agreement(judged: pl.DataFrame) -> None:
    outputs = {
        ("r1", "prod"): "short", ("r1", "candidate"): "a much longer answer", ("r1", "prod_repeat"): "tiny",
        ("r3", "prod"): "abcdef", ("r3", "prod_repeat"): "abc",
        ("r4", "prod"): "long long long answer", ("r4", "candidate"): "short",
    }  # fmt: skip
    responses = pl.DataFrame(
        [{"request_id": r, "arm": a, "sample": 0, "output": o} for (r, a), o in outputs.items()]
    )
    metadata = {
        "r1": {"pref": "candidate", "rating": 5}, "r2": {"pref": "prod", "rating": "3"},
        "r3": {"pref": "tie", "rating": 1}, "r4": {"pref": "Prod", "rating": 4}, "r5": {"pref": "both", "rating": "bad"},
    }  # fmt: skip
    requests = pl.DataFrame({"request_id": list(metadata), "metadata": [json.dumps(m) for m in metadata.values()]})
    scoring = ScoringConfig(human_preference_key="pref", human_rating_key="rating")
    diagnostics = judge_diagnostics(judged, requests, responses, scoring)
    got = {m: (v, n, json.loads(d)) for m, v, n, d in diagnostics.iter_rows()}

    assert got["prod_vs_repeat_win_rate"][:2] == (0.5, 3)  # one win, one tie, one loss
    assert got["swap_consistency"][:2] == (pytest.approx(5 / 7), 7)
    assert got["tie_rate"][:2] == (pytest.approx(3 / 7), 7)
    assert got["tie_rate"][2] == {"ties": 3, "said_tie": 1, "inconsistent": 2}
    # decisive: r1 candidate (longer) won, r4 prod (longer) won, r1 prod (longer) beat repeat, r3 repeat (shorter) won
    assert got["longer_answer_win_rate"][:2] == (0.75, 4)
    assert got["judge_error_rate"][:3] == (pytest.approx(2 / 22), 22, {"timeout": 1, "unparseable": 1})

    # human preferred candidate, prod, tie, prod; the judge said candidate, tie, tie, prod
    # po = 3/4, pe = (2*1 + 1*1 + 1*2) / 16 = 5/16, kappa = (12/16 - 5/16) / (11/16) = 7/11
    kappa, n, details = got["human_agreement_kappa"]
    assert (kappa, n) == (pytest.approx(7 / 11), 4)
    assert details["labels"] == ["prod", "candidate", "tie"]
    assert details["confusion_matrix"] == [[1, 0, 1], [0, 1, 0], [0, 0, 1]]

    # ratings 5, 3, 1 against judge scores 10, 5, 3 -> 5, 3, 2; quadratic weights (i - j)^2:
    # observed disagreement 1, expected (21 + 5 + 13) / 3 = 13, kappa = 1 - 1/13
    kappa, n, details = got["human_rating_kappa"]
    assert (kappa, n) == (pytest.approx(12 / 13), 3)
    assert details["confusion_matrix"][0] == [0, 1, 0, 0, 0]

    plain = judge_diagnostics(judged, requests, responses, ScoringConfig())
    assert "human_agreement_kappa" not in plain["metric"].to_list()
    empty = judge_diagnostics(judged.clear(), requests, responses.clear(), scoring)
    assert empty.is_empty() and empty.columns == ["metric", "value", "n", "details"]
