"""Scoring with the real embedding model: similarity, the noise floor, the cache, tool checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from harness.config import ScoringConfig, parse_config
from harness.ingest import ingest
from harness.replay import replay
from harness.scoring import Embedder, score_run
from harness.scoring.scorers.tool_reference import tool_match
from harness.store import Store
from tests.conftest import write_jsonl


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_paraphrase_scores_higher_than_an_unrelated_answer(embedder: Embedder) -> None:
    base, paraphrase, unrelated = embedder.encode([
        "Your order 1234 has shipped and will arrive on Friday.",
        "Order #1234 is on its way; expect it by Friday.",
        "Our return policy allows refunds within 30 days of purchase.",
    ])  # fmt: skip
    assert np.linalg.norm(base) == pytest.approx(1.0, abs=1e-5)
    assert float(base @ paraphrase) > float(base @ unrelated) + 0.2


def captured_run(store: Store, tmp_path: Path, outputs: dict[str, tuple[str, str, str]],
                 references: dict[str, str] | None = None, repeats: int = 1) -> str:
    """A run whose three arms answer from captured variants: (prod, prod_repeat, candidate) texts."""
    records = []
    for rid, (prod, again, cand) in outputs.items():
        record = {"request_id": rid, "input": f"question {rid}", "captured": [
            {"variant": "prod", "output": prod, "tool_calls": [{"name": "lookup_order", "arguments": {"id": rid}}]},
            {"variant": "again", "output": again, "tool_calls": [{"name": "lookup_order", "arguments": {"id": rid}}]},
            {"variant": "cand", "output": cand, "tool_calls": [{"name": "search_kb", "arguments": {"q": rid}}]}]}
        if references and rid in references:
            record["reference"] = references[rid]
        records.append(record)
    ingest(store, [write_jsonl(tmp_path / f"log{len(store.datasets())}.jsonl", records)], "d", progress=False)
    config = parse_config({"replay": {"dataset": "d", "repeats": repeats}, "agents": {
        "prod": {"kind": "captured", "variant": "prod"}, "prod_repeat": {"kind": "captured", "variant": "again"},
        "candidate": {"kind": "captured", "variant": "cand"}}})  # fmt: skip
    return replay(config, store=store, progress=False).run_id


OUTPUTS = {
    "a": ("Your order shipped yesterday.", "Your order was shipped yesterday.", "Refunds take 5 days."),
    "b": ("The blue jacket is in stock.", "Yes, the blue jacket is available.", "The blue jacket is in stock now."),
}


def test_similarity_noise_floor_reference_and_cache(store: Store, tmp_path: Path, embedder: Embedder) -> None:
    run_id = captured_run(store, tmp_path, OUTPUTS, references={"a": "It shipped yesterday."})
    before = embedder.n_encoded
    summary = score_run(store, run_id, embedder=embedder, progress=False)
    assert summary.texts_encoded == embedder.n_encoded - before == 7  # 6 outputs + 1 reference, all distinct
    sim = store.scores(run_id, "similarity")
    value = {(r["request_id"], r["arm_a"], r["arm_b"]): r["value"] for r in sim.iter_rows(named=True)}
    # request a: the candidate talks about something else; prod_repeat is prod's own paraphrase
    assert value[("a", "prod_repeat", "prod")] > value[("a", "candidate", "prod")] + 0.3
    assert value[("a", "prod", "reference")] > value[("a", "candidate", "reference")]
    assert ("b", "prod", "reference") not in value
    assert json.loads(sim["details"][0]) == {"pairs": 1}

    # Re-scoring hits the cache: a fresh embedder (nothing in memory) encodes no text at all.
    fresh = Embedder()
    again = score_run(store, run_id, embedder=fresh, progress=False)
    assert again.new_scores == 0 and fresh.n_encoded == 0
    # A new run over the same texts computes its scores but still encodes nothing.
    second = replay(parse_config({"replay": {"dataset": "d"}, "agents": {
        "prod": {"kind": "captured", "variant": "prod"}, "prod_repeat": {"kind": "captured", "variant": "again"},
        "candidate": {"kind": "captured", "variant": "cand"}}}), store=store, progress=False)  # fmt: skip
    other = score_run(store, second.run_id, embedder=fresh, progress=False)
    assert other.new_scores > 0 and fresh.n_encoded == 0
    assert store.sql("SELECT count(*) AS n FROM embeddings")["n"][0] == 7


def test_k_samples_use_all_pairs(store: Store, tmp_path: Path, embedder: Embedder) -> None:
    run_id = captured_run(store, tmp_path, OUTPUTS, repeats=2)
    score_run(store, run_id, embedder=embedder, progress=False)
    sim = store.scores(run_id, "similarity")
    rows = {(r["request_id"], r["arm_a"], r["arm_b"]): r for r in sim.iter_rows(named=True)}
    assert json.loads(rows[("a", "candidate", "prod")]["details"]) == {"pairs": 4}
    # the captured answers are identical across samples, so prod vs itself is exactly 1
    assert json.loads(rows[("a", "prod", "prod")]["details"]) == {"pairs": 1}
    assert rows[("a", "prod", "prod")]["value"] == pytest.approx(1.0, abs=1e-5)


def test_tool_checks_against_reference_and_behaviour(store: Store, tmp_path: Path, embedder: Embedder) -> None:
    run_id = captured_run(store, tmp_path, OUTPUTS)
    summary = score_run(store, run_id, embedder=embedder, progress=False)
    # no reference tool calls and no opt-in: nothing to score against (prod is not its own reference)
    assert store.scores(run_id, "tool_f1_name").is_empty() and summary.reference_variant is None
    summary = score_run(store, run_id, scoring=ScoringConfig(reference_variant="prod"), embedder=embedder,
                        progress=False)
    assert summary.reference_variant == "prod"
    scores = store.scores(run_id)
    f1 = {(r["request_id"], r["arm_a"]): r for r in scores.filter(pl.col("scorer") == "tool_f1_name").iter_rows(named=True)}
    # opted in: the captured prod variant's calls stand in for the missing reference
    assert f1[("a", "prod")]["value"] == 1.0 and f1[("a", "candidate")]["value"] == 0.0
    assert json.loads(f1[("a", "prod")]["details"])["source"] == "captured:prod"
    changed = scores.filter(pl.col("scorer") == "tool_set_changed")
    by_arm = {(r["request_id"], r["arm_a"]): r for r in changed.iter_rows(named=True)}
    assert by_arm[("a", "candidate")]["value"] == 1.0 and by_arm[("a", "prod_repeat")]["value"] == 0.0
    assert json.loads(by_arm[("a", "candidate")]["details"]) == {"added": ["search_kb"], "removed": ["lookup_order"]}
    per_tool = store.tool_behaviour_by_tool(run_id)
    assert per_tool.filter(pl.col("tool") == "lookup_order")["candidate_removed"][0] == 2


def test_tool_match_metrics() -> None:
    ref = json.dumps([{"name": "lookup_order", "arguments": {"id": 1}}, {"name": "issue_refund", "arguments": {"id": 1}}])
    same_names = json.dumps([{"name": "lookup_order", "arguments": {"id": 2}}, {"name": "issue_refund", "arguments": {"id": 1}}])
    m = tool_match(same_names, ref)
    assert (m["f1_name"], m["sequence_match"]) == (1.0, 1.0)
    assert (m["precision_args"], m["recall_args"]) == (0.5, 0.5)
    reordered = json.dumps([{"name": "issue_refund", "arguments": {"id": 1}}])
    m = tool_match(reordered, ref)
    assert (m["precision_name"], m["recall_name"], m["sequence_match"]) == (1.0, 0.5, 0.0)
    assert m["f1_name"] == pytest.approx(2 / 3)
    assert tool_match("[]", "[]")["f1_args"] == 1.0
    assert tool_match(None, ref)["f1_name"] == 0.0


def test_unknown_model_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    run_id = captured_run(store, tmp_path, OUTPUTS)
    with pytest.raises(Exception, match="cannot load embedding model 'no/such-model'"):
        score_run(store, run_id, embedder=Embedder("no/such-model"), progress=False)


def test_score_command_prints_the_noise_floor_and_says_no_judge(store: Store, tmp_path: Path) -> None:
    from tests.procs import run_harness

    run_id = captured_run(store, tmp_path, OUTPUTS)
    result = run_harness("score", run_id, "--db", str(store.path))
    assert result.returncode == 0, result.stderr
    assert "noise floor (prod_repeat vs prod)" in result.stdout
    assert "judge: not configured" in result.stdout
