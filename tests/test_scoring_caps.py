"""Huge agent outputs: what reaches the embedder and the judge is cut to scoring.max_text_chars, and it says so.

Before the cap, twenty 5 MB outputs took a scoring process to 4.3 GB (the tokenizer held every
token of every output) and four and a half minutes; the regression test scores such a run in a real
`harness score` process and bounds its peak memory against the same process on small outputs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import polars as pl
import pytest
from aiohttp import web

from harness.config import JudgeConfig, ScoringConfig, parse_config
from harness.ingest import ingest
from harness.records import Request
from harness.replay import replay
from harness.scoring import Embedder, score_run
from harness.scoring.judge import build_tasks
from harness.store import Store
from tests.conftest import write_jsonl
from tests.procs import harness_cmd, harness_env
from tests.servers import serve

_MB = 1 << 20


def huge_agent(request: Request) -> dict[str, str]:
    """Answers requests named `big-<size>-<i>` with <size> characters, others with a short sentence."""
    if request.request_id.startswith("big-"):
        size = int(request.request_id.split("-")[1])
        return {"output": (f"{request.request_id}: the order shipped on time and " * (size // 40 + 1))[:size]}
    return {"output": f"{request.request_id}: the order shipped on time."}


def huge_run(store: Store, tmp_path: Path, ids: list[str]) -> str:
    """A run of huge_agent in all three arms over requests `ids` (a dataset of their own)."""
    name = f"d{len(store.datasets())}"
    records = [{"request_id": i, "input": f"where is order {i}?"} for i in ids]
    ingest(store, [write_jsonl(tmp_path / f"{name}.jsonl", records)], name, progress=False)
    agent = {"kind": "python", "callable": "tests.test_scoring_caps:huge_agent"}
    config = parse_config({"replay": {"dataset": name, "concurrency": 4},
                           "agents": {"prod": agent, "prod_repeat": agent, "candidate": agent}})
    return replay(config, store=store, progress=False).run_id


def peak_rss_of_score(db: Path, run_id: str) -> tuple[int, str]:
    """Run `harness score` as a child process; its own peak RSS in bytes (wait4), and its stdout."""
    with open(db.parent / f"{run_id}.out", "w+") as out:
        process = subprocess.Popen(harness_cmd("score", run_id, "--db", str(db)), env=harness_env(), stdout=out,
                                   stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    assert process.returncode == 0, text
    return usage.ru_maxrss * 1024, text


@pytest.mark.timeout(300)
def test_twelve_5mb_outputs_score_in_bounded_memory_and_record_the_cut(tmp_path: Path) -> None:
    store = Store(tmp_path / "huge.duckdb")
    small = huge_run(store, tmp_path, [f"small-{i}" for i in range(12)])
    big = huge_run(store, tmp_path, [f"big-{5 * _MB}-{i}" for i in range(12)])

    baseline, _ = peak_rss_of_score(store.path, small)
    peak, out = peak_rss_of_score(store.path, big)
    # Before the cap, twenty such requests peaked 3.6 GB above the baseline; now the outputs never
    # leave DuckDB whole.
    assert peak < baseline + 400 * _MB, (peak / _MB, baseline / _MB)
    assert "12 texts encoded" in out

    similarity = store.scores(big, "similarity")
    assert similarity.height == 24  # candidate vs prod and prod_repeat vs prod, per request
    details = [json.loads(d) for d in similarity["details"]]
    assert all(d["truncated"] == ["prod", "prod_repeat"] or d["truncated"] == ["candidate", "prod"] for d in details)
    assert all("truncated" not in json.loads(d) for d in store.scores(small, "similarity")["details"])


def test_cut_texts_embed_as_their_first_characters(tmp_path: Path) -> None:
    """The vector of a cut text is the vector of its first max_text_chars characters, cached as such."""
    store = Store(tmp_path / "h.duckdb")
    run_id = huge_run(store, tmp_path, [f"big-{300}-0", "small-0"])
    embedder = Embedder()
    score_run(store, run_id, scoring=ScoringConfig(max_text_chars=100), embedder=embedder, progress=False)
    prefix = huge_agent(Request(request_id="big-300-0", input="q"))["output"][:100]
    from harness.scoring.embeddings import text_hash

    cached = store.sql("SELECT text_hash FROM embeddings")["text_hash"].to_list()
    assert text_hash(prefix) in cached and len(cached) == 2
    details = store.scores(run_id, "similarity").filter(pl.col("request_id") == "big-300-0")["details"].to_list()
    assert {tuple(json.loads(d).get("truncated", ())) for d in details} == {("candidate", "prod"), ("prod", "prod_repeat")}


def test_the_judge_sees_cut_answers_with_a_note_and_the_judgment_records_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "h.duckdb")
    run_id = huge_run(store, tmp_path, [f"big-{2 * _MB}-0", "small-0"])
    prompts: list[str] = []

    async def judge(request: web.Request) -> web.Response:
        prompt = (await request.json())["messages"][-1]["content"]
        prompts.append(prompt)
        content = {"winner": "tie"} if "<<<ANSWER A" in prompt else {"score": 7}
        return web.json_response({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                                  "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                      "role": "assistant", "content": json.dumps(content)}}],
                                  "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})  # fmt: skip

    app = web.Application()
    app.router.add_post("/v1/chat/completions", judge)
    cap = 5_000
    with serve(app) as base:
        config = JudgeConfig(base_url=f"{base}/v1", model="m", api_key_env=None)
        summary = score_run(store, run_id, scoring=ScoringConfig(max_text_chars=cap), judge=config,
                            embedder=Embedder(), progress=False)
    assert summary.judge is not None and summary.judge["errors"] == 0
    assert prompts and max(len(p) for p in prompts) < 2 * cap + 3_000  # two answers, the rubric, the template
    big_prompts = [p for p in prompts if "big-" in p]
    assert big_prompts and all("cut by the harness: only the first 5,000 characters are shown" in p
                               for p in big_prompts)
    judgments = store.judgments(run_id)
    cut = {(r["request_id"], r["kind"], r["arm_a"]): r["truncated"] for r in judgments.iter_rows(named=True)}
    assert cut[(f"big-{2 * _MB}-0", "pointwise", "prod")] == "answer_a"
    assert cut[(f"big-{2 * _MB}-0", "pairwise", "prod")] == "answer_a,answer_b"
    assert cut[("small-0", "pointwise", "prod")] is None


def test_build_tasks_cuts_question_answers_and_tools() -> None:
    responses = pl.DataFrame({"request_id": ["r"] * 2, "arm": ["prod", "candidate"], "sample": [0, 0],
                              "output": ["x" * 50, "short"], "tool_calls": [json.dumps([{"name": "t" * 80}]), None],
                              "error_type": [None, None]})  # fmt: skip
    requests = pl.DataFrame({"request_id": ["r"], "input_text": ["q" * 30]})
    tasks = build_tasks(responses, requests, JudgeConfig(base_url="http://127.0.0.1:1/v1", model="m"), max_chars=20)
    pointwise = {t.arm_a: t for t in tasks if t.kind == "pointwise"}
    assert pointwise["prod"].truncated == ("question", "answer_a", "tools_a")
    assert pointwise["candidate"].truncated == ("question",)
    assert re.fullmatch(r"x{20}\n\[\.\.\. cut by the harness: only the first 20 characters are shown\]",
                        pointwise["prod"].answer_a)
    uncut = build_tasks(responses, requests, JudgeConfig(base_url="http://127.0.0.1:1/v1", model="m"))
    assert all(t.truncated == () for t in uncut) and uncut[0].question == "q" * 30
