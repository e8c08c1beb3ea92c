"""A judge that disagrees with itself is not evidence: deliberately biased local judges make the
judge's checks `unreliable`, the verdict says so first, and quality falls back to the next
kind of evidence (reference actions here)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from harness.config import JudgeConfig, parse_config
from harness.gates import gate_run
from harness.gates.run import GateReport
from harness.ingest import ingest
from harness.replay import replay
from harness.scoring import Embedder, score_run
from harness.store import Store
from tests.servers import serve
from tests.tool_logs import tool_log

_PAIR = re.compile(r"<<<ANSWER A\n(.*?)\nANSWER A>>>.*<<<ANSWER B\n(.*?)\nANSWER B>>>", re.S)
_ONE = re.compile(r"<<<ANSWER\n(.*?)\nANSWER>>>", re.S)


def judge_app(pairwise: Callable[[str, str], str], pointwise: Callable[[str], int]) -> web.Application:
    """An OpenAI-compatible judge whose answers come from two functions of the judged texts."""

    async def handle(request: web.Request) -> web.Response:
        prompt = (await request.json())["messages"][-1]["content"]
        pair = _PAIR.search(prompt)
        if pair:
            content = {"winner": pairwise(*pair.groups()), "rationale": "r"}
        else:
            one = _ONE.search(prompt)
            content = {"score": pointwise(one.group(1) if one else ""), "rationale": "r"}
        return web.json_response({
            "id": "c", "object": "chat.completion", "created": 0, "model": "judge",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(content)}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}})  # fmt: skip

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    return app


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def judged(tmp_path: Path, embedder: Embedder, app: web.Application) -> GateReport:
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [tool_log(tmp_path / "log.jsonl", 48, fails={})], "d", progress=False)
    config = parse_config({"replay": {"dataset": "d"}, "gates": {"n_bootstrap": 400}, "agents": {
        "prod": {"kind": "captured", "variant": "prod"}, "prod_repeat": {"kind": "captured", "variant": "prod_b"},
        "candidate": {"kind": "captured", "variant": "cand"}}})  # fmt: skip
    run_id = replay(config, store=store, progress=False).run_id
    with serve(app) as base:
        judge = JudgeConfig(base_url=f"{base}/v1", model="judge", api_key_env=None, max_attempts=1)
        score_run(store, run_id, judge=judge, embedder=embedder, progress=False)
    return gate_run(store, run_id, config.gates)


def test_a_judge_that_always_answers_a_is_unreliable(tmp_path: Path, embedder: Embedder) -> None:
    report = judged(tmp_path, embedder, judge_app(lambda a, b: "A", lambda answer: 7))
    win = next(c for c in report.checks if c.check_name == "judge_win_rate")
    assert win.status == "unreliable" and "0% of its pairwise judgments agree" in win.sentence
    assert report.verdict != "proceed"  # an undecided critical check
    assert report.reasons[1].startswith("The LLM judge is unreliable on this run")
    quality = next(c for c in report.checks if c.check_name == "quality")
    assert quality.source == "action_f1" and "the LLM judge is unreliable" in quality.sentence


def test_a_judge_that_follows_answer_length_is_unreliable(tmp_path: Path, embedder: Embedder) -> None:
    longer = judge_app(lambda a, b: "tie" if len(a) == len(b) else "A" if len(a) > len(b) else "B",
                       lambda answer: min(10, 1 + len(answer) // 3))
    report = judged(tmp_path, embedder, longer)
    assert report.judge is not None and not report.judge.reliable
    assert any("the longer answer" in problem for problem in report.judge.problems)
    assert {c.status for c in report.checks if c.check_name in ("judge_win_rate",)} == {"unreliable"}
    assert next(c for c in report.checks if c.check_name == "quality").source == "action_f1"


def test_a_consistent_judge_is_evidence(tmp_path: Path, embedder: Embedder) -> None:
    fair = judge_app(lambda a, b: "tie", lambda answer: 8)
    report = judged(tmp_path, embedder, fair)
    assert report.judge is not None and report.judge.reliable
    quality = next(c for c in report.checks if c.check_name == "quality")
    assert quality.source == "judge_quality" and quality.status == "pass"
    assert next(c for c in report.checks if c.check_name == "judge_win_rate").status == "pass"
