"""score_run with a [judge]: judgments, judge scores and diagnostics stored; re-scoring calls nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from aiohttp import web

from harness.config import JudgeConfig, ScoringConfig
from harness.scoring import Embedder, score_run
from harness.store import Store
from tests.servers import serve
from tests.test_scoring import OUTPUTS, captured_run


def _quality(answer: str) -> int:
    return 8 if re.search(r"shipped|stock|available", answer) else 3


class Judge:
    """An OpenAI-compatible judge that prefers answers about shipping and stock."""

    def __init__(self) -> None:
        self.calls = 0
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        prompt = (await request.json())["messages"][-1]["content"]
        pair = re.search(r"<<<ANSWER A\n(.*?)\nANSWER A>>>.*<<<ANSWER B\n(.*?)\nANSWER B>>>", prompt, re.S)
        if pair:
            a, b = (_quality(t) for t in pair.groups())
            content = {"winner": "tie" if a == b else "A" if a > b else "B", "rationale": "r"}
        else:
            answer = re.search(r"<<<ANSWER\n(.*?)\nANSWER>>>", prompt, re.S)
            assert answer is not None
            content = {"score": _quality(answer.group(1)), "rationale": "r"}
        return web.json_response({
            "id": "c", "object": "chat.completion", "created": 0, "model": "gpt-4.1-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                                                                          "content": json.dumps(content)}}],
            "usage": {"prompt_tokens": 500, "completion_tokens": 50, "total_tokens": 550}})  # fmt: skip


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_judge_scores_diagnostics_and_free_rescoring(tmp_path: Path, embedder: Embedder,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_KEY", "sk-test-judge-key")
    store = Store(tmp_path / "h.duckdb")
    run_id = captured_run(store, tmp_path, OUTPUTS)
    judge = Judge()
    with serve(judge.app) as base:
        config = JudgeConfig(base_url=f"{base}/v1", model="gpt-4.1-mini", api_key_env="JUDGE_KEY")
        summary = score_run(store, run_id, scoring=ScoringConfig(), judge=config, embedder=embedder, progress=False)
        # 2 requests: pointwise prod + candidate, pairwise x2 orders for candidate and prod_repeat
        assert summary.judge is not None and summary.judge["tasks"] == 2 * (2 + 4)
        assert summary.judge["errors"] == 0 and summary.judge["cost_usd"] > 0
        calls = judge.calls
        assert 0 < calls <= 12
        again = score_run(store, run_id, scoring=ScoringConfig(), judge=config, embedder=embedder, progress=False)
        assert judge.calls == calls  # re-scoring costs nothing
        assert again.judge is not None and again.judge["tasks"] == 0
    quality = {(r["request_id"], r["arm_a"]): r["value"] for r in
               store.scores(run_id, "judge_quality").iter_rows(named=True)}
    assert quality[("a", "prod")] == pytest.approx(7 / 9) and quality[("a", "candidate")] == pytest.approx(2 / 9)
    pairwise = {(r["request_id"], r["arm_a"]): r["value"] for r in
                store.scores(run_id, "judge_pairwise").iter_rows(named=True)}
    assert pairwise[("a", "candidate")] == -1.0 and pairwise[("b", "candidate")] == 0.0
    assert pairwise[("a", "prod_repeat")] == 0.0
    diagnostics = {r["metric"]: r for r in store.judge_diagnostics(run_id).iter_rows(named=True)}
    assert diagnostics["swap_consistency"]["value"] == 1.0
    assert diagnostics["prod_vs_repeat_win_rate"]["value"] == 0.5
    judgments = store.judgments(run_id)
    assert judgments.height == 12 and judgments["error_type"].null_count() == 12
    assert judgments.filter(pl.col("cost_usd") > 0)["cost_usd"].sum() == pytest.approx(summary.judge["cost_usd"])
    # the key named by api_key_env never reaches the store
    for table in ("judgments", "judge_cache", "runs", "scoring_runs"):
        dump = store.sql(f"SELECT * FROM {table}").write_csv()
        assert "sk-test-judge-key" not in dump


def test_judge_errors_are_recorded_and_retried_on_rescore(tmp_path: Path, embedder: Embedder) -> None:
    store = Store(tmp_path / "h.duckdb")
    run_id = captured_run(store, tmp_path, OUTPUTS)
    app = web.Application()

    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503, text="overloaded")

    app.router.add_post("/v1/chat/completions", down)
    with serve(app) as base:
        config = JudgeConfig(base_url=f"{base}/v1", model="m", api_key_env=None, max_attempts=2, backoff_base_s=0.01)
        summary = score_run(store, run_id, judge=config, embedder=embedder, progress=False)
    assert summary.judge is not None and summary.judge["errors"] == summary.judge["tasks"] == 12
    assert set(store.judgments(run_id)["error_type"].to_list()) == {"http_error"}
    assert store.scores(run_id, "judge_quality").height == 0  # no invented quality
    judge = Judge()
    with serve(judge.app) as base:
        config = JudgeConfig(base_url=f"{base}/v1", model="m", api_key_env=None)
        fixed = score_run(store, run_id, judge=config, embedder=embedder, progress=False)
    assert fixed.judge is not None and fixed.judge["tasks"] == 12 and fixed.judge["errors"] == 0
    assert store.judgments(run_id)["error_type"].null_count() == 12
    assert store.scores(run_id, "judge_quality").height == 4


def test_human_labels_give_kappa(tmp_path: Path, embedder: Embedder) -> None:
    from harness.config import parse_config
    from harness.ingest import ingest
    from harness.replay import replay
    from tests.conftest import write_jsonl

    records: list[dict[str, Any]] = []
    for i in range(8):
        good_candidate = i % 2 == 0
        records.append({"request_id": f"h{i}", "input": "where is it?",
                        "metadata": {"human": "candidate" if good_candidate else "prod"},
                        "captured": [{"variant": "prod", "output": "meh" if good_candidate else "it shipped"},
                                     {"variant": "cand", "output": "it shipped" if good_candidate else "meh"}]})
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "l.jsonl", records)], "d", progress=False)
    run_id = replay(parse_config({"replay": {"dataset": "d", "prod_repeat_fraction": 0}, "agents": {
        "prod": {"kind": "captured", "variant": "prod"}, "candidate": {"kind": "captured", "variant": "cand"}}}),
        store=store, progress=False).run_id  # fmt: skip
    judge = Judge()
    with serve(judge.app) as base:
        score_run(store, run_id, scoring=ScoringConfig(human_preference_key="human"),
                  judge=JudgeConfig(base_url=f"{base}/v1", model="m", api_key_env=None), embedder=embedder,
                  progress=False)
    kappa = store.judge_diagnostics(run_id).filter(pl.col("metric") == "human_agreement_kappa").row(0, named=True)
    assert kappa["value"] == pytest.approx(1.0) and kappa["n"] == 8
    assert json.loads(kappa["details"])["confusion_matrix"] == [[4, 0, 0], [0, 4, 0], [0, 0, 0]]
