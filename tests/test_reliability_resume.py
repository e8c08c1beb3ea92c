"""Kill and resume: SIGKILL a real replay and a real scoring process at seeded random moments; the
results equal an uninterrupted run's. Also: a reader held open through both, and the budget under
concurrency. `make stress` (HARNESS_STRESS=1) runs the long versions."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from harness.config import parse_config
from harness.ingest import ingest
from harness.replay import replay
from harness.store import Store
from tests.conftest import simple_records, write_jsonl
from tests.judge_server import deterministic_judge_app
from tests.procs import harness_env, run_harness, start_harness
from tests.servers import serve

STRESS = os.environ.get("HARNESS_STRESS") == "1"
N_REQUESTS = 3000 if STRESS else 200
REPLAY_KILLS = 20 if STRESS else 5
SCORING_KILLS = 20 if STRESS else 3

CONFIG = """
[replay]
dataset = "d"
concurrency = 16
flush_interval_s = 0.05

[agents.prod]
kind = "python"
callable = "tests.sample_agents:deterministic"

[agents.candidate]
kind = "python"
callable = "tests.sample_agents:deterministic"

[scoring]

[judge]
base_url = "{judge}/v1"
model = "gpt-4.1-mini"
api_key_env = "TEST_JUDGE_KEY"
concurrency = 8
"""


def prepared(root: Path, judge: str) -> tuple[Store, Path]:
    root.mkdir(parents=True, exist_ok=True)
    store = Store(root / "h.duckdb")
    records = simple_records(N_REQUESTS)
    for i, r in enumerate(records):
        r["reference"] = f"answer number {i}"
    ingest(store, [write_jsonl(root / "log.jsonl", records)], "d", progress=False)
    config = root / "harness.toml"
    config.write_text(CONFIG.format(judge=judge), encoding="utf-8")
    return store, config


def kill_on_progress(args: list[str], kills: int, seed: int, progress: Callable[[], int], steps: tuple[int, int],
                     **env: str) -> int:
    """Start the command and SIGKILL it once `progress()` (rows it wrote) has grown by a seeded random
    number of rows in `steps`, `kills` times; returns how many processes were killed mid-work. Kills
    follow observed progress, not the clock, so each lands mid-work on a fast or a loaded machine."""
    rng = random.Random(seed)
    killed = 0
    for _ in range(kills):
        target = progress() + rng.randint(*steps)
        proc = start_harness(*args, **env)
        while proc.poll() is None and progress() < target:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
    return killed


def count(store: Store, query: str) -> Callable[[], int]:
    """A progress probe: the number the query counts, read through a short-lived connection."""
    return lambda: int(store.sql(query)["n"][0])


def table(store: Store, query: str) -> pl.DataFrame:
    return store.sql(query).sort(pl.all())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Store, Path]]:
    """The same dataset replayed and scored twice: uninterrupted, and killed again and again."""
    root = tmp_path_factory.mktemp("resume")
    with pytest.MonkeyPatch.context() as env, serve(deterministic_judge_app()) as judge:
        env.setenv("TEST_JUDGE_KEY", "sk-judge-key-for-the-test-0001")
        reference, ref_config = prepared(root / "reference", judge)
        done = run_harness("replay", "-c", str(ref_config), "--run-id", "r", "--db", str(reference.path),
                           SAMPLE_AGENT_DELAY="0.002", timeout=600)
        assert done.returncode == 0, done.stderr
        killed, config = prepared(root / "killed", judge)
        replay_only = config.with_name("replay.toml")  # the same run, without scoring after the replay
        replay_only.write_text(config.read_text(encoding="utf-8").split("[scoring]")[0], encoding="utf-8")
        replay_args = ["replay", "-c", str(replay_only), "--run-id", "r", "--db", str(killed.path)]
        # each replay is killed once it has written another 20 to 100 responses (600 in all); the
        # agent's 50 ms per call paces a replay over seconds, so even a probe slowed by a busy machine
        # (each look opens the file and may wait for the writer's lock) sees it part way
        responses = count(killed, "SELECT count(*) AS n FROM responses WHERE NOT harness_cancelled")
        n = kill_on_progress(replay_args, REPLAY_KILLS, seed=7, progress=responses, steps=(20, 100),
                             SAMPLE_AGENT_DELAY="0.05")
        assert n >= 1
        finished = run_harness(*replay_args, SAMPLE_AGENT_DELAY="0", timeout=600)
        assert finished.returncode == 0, finished.stderr
        # each scoring is killed once it has cached, scored or judged another 100 to 500 rows
        scored = count(killed, "SELECT (SELECT count(*) FROM embeddings) + (SELECT count(*) FROM scores)"
                               " + (SELECT count(*) FROM judgments) AS n")
        score_args = ["score", "r", "-c", str(config), "--db", str(killed.path)]
        assert kill_on_progress(score_args, SCORING_KILLS, seed=11, progress=scored, steps=(100, 500)) >= 1
        rescored = run_harness(*score_args, timeout=600)
        assert rescored.returncode == 0, rescored.stderr
    return {"reference": (reference, ref_config), "killed": (killed, config)}


def test_replay_killed_again_and_again_equals_an_uninterrupted_one(runs: dict[str, tuple[Store, Path]]) -> None:
    reference, killed = runs["reference"][0], runs["killed"][0]
    query = ("SELECT request_id, arm, sample, count(*) AS n, any_value(output) AS output, any_value(error_type) AS err"
             " FROM responses WHERE run_id = 'r' GROUP BY ALL")
    ours, theirs = table(killed, query), table(reference, query)
    assert ours.height == theirs.height == 3 * N_REQUESTS  # no gaps
    assert ours["n"].max() == 1  # no duplicates
    assert ours.equals(theirs)  # same keys, identical outputs
    assert killed.run("r")["status"] == "completed"


def test_scoring_killed_again_and_again_equals_an_uninterrupted_one(runs: dict[str, tuple[Store, Path]]) -> None:
    reference, killed = runs["reference"][0], runs["killed"][0]
    scores = "SELECT request_id, scorer, arm_a, arm_b, value FROM scores WHERE run_id = 'r'"
    ours, theirs = table(killed, scores), table(reference, scores)
    keys = ["request_id", "scorer", "arm_a", "arm_b"]
    assert ours.height == theirs.height > 0 and ours.select(keys).equals(theirs.select(keys))
    # a text encoded in another batch after a resume may differ in the last float32 bit
    gap = ours.join(theirs, on=keys, suffix="_ref").select((pl.col("value") - pl.col("value_ref")).abs().max())
    assert gap.item() <= 1e-6
    judgments = ('SELECT request_id, kind, arm_a, arm_b, sample, "order", verdict, score, error_type'
                 " FROM judgments WHERE run_id = 'r'")
    ours, theirs = table(killed, judgments), table(reference, judgments)
    assert ours.height == theirs.height > 0 and ours.equals(theirs)
    assert ours["error_type"].null_count() == ours.height
    cached = killed.sql("SELECT count(*) AS n, count(DISTINCT text_hash) AS d FROM embeddings")
    assert cached["n"][0] == cached["d"][0]  # each text encoded and stored once


def test_a_reader_held_open_through_replay_and_scoring_sees_everything(tmp_path: Path) -> None:
    with serve(deterministic_judge_app()) as judge:
        store, config = prepared(tmp_path, judge)
        script = textwrap.dedent(f"""
            import time, harness
            store = harness.open_store({str(store.path)!r}, read_only=True)  # held for the whole run
            seen, started = [], time.monotonic()
            while time.monotonic() - started < 300:
                finished = store.scoring_run("r") is not None  # before counting: no stale count
                n = int(store.sql("SELECT count(*) AS n FROM responses")["n"][0])
                s = int(store.sql("SELECT count(*) AS n FROM scores")["n"][0])
                seen.append((n, s))
                if finished:
                    break
                time.sleep(0.02)
            assert seen == sorted(seen), "a reader saw results disappear"
            print(len(seen), seen[-1][0], seen[-1][1])
        """)
        reader = subprocess.Popen([sys.executable, "-c", script], env=harness_env(TEST_JUDGE_KEY="k"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        result = run_harness("replay", "-c", str(config), "--run-id", "r", "--db", str(store.path),
                             SAMPLE_AGENT_DELAY="0.005", TEST_JUDGE_KEY="k", timeout=600)
        assert result.returncode == 0, result.stderr
        out, err = reader.communicate(timeout=330)
    assert reader.returncode == 0, err
    polls, responses, scores = map(int, out.split())
    assert polls > 10 and responses == 3 * N_REQUESTS and scores > 0
    assert store.sql("SELECT count(*) AS n FROM scores WHERE run_id = 'r'")["n"][0] == scores


def test_budget_under_concurrency_64(store: Store, tmp_path: Path) -> None:
    n = 4000 if STRESS else 1200
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", simple_records(n))], "d", progress=False)
    max_cost = 0.005
    budget = 1.0
    config = parse_config({"replay": {"dataset": "d", "concurrency": 64, "budget_usd": budget,
                                      "prod_repeat_fraction": 0, "flush_interval_s": 0.05},
                           "agents": {"prod": {"kind": "python", "callable": "tests.sample_agents:costly"},
                                      "candidate": {"kind": "python", "callable": "tests.sample_agents:costly"}}})
    summary = replay(config, store=store, progress=False)
    assert summary.status == "budget_exhausted"
    spent = store.sql("SELECT sum(cost_usd) AS s, count(*) AS n FROM responses")
    assert budget * 0.8 < spent["s"][0] <= budget + 64 * max_cost  # in-flight calls at most over
    assert spent["n"][0] < 2 * n
    assert "budget" in store.run(summary.run_id)["message"]
