"""Replay as a real process: SIGKILL and resume, Ctrl-C draining, a notebook reading meanwhile."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.ingest import ingest
from harness.store import Store
from tests.conftest import simple_records, write_jsonl
from tests.procs import harness_env, run_harness, start_harness, wait_for

CONFIG = """
[replay]
dataset = "d"
concurrency = {concurrency}
flush_interval_s = 0.1
drain_grace_s = {grace}

[agents.prod]
kind = "python"
callable = "tests.sample_agents:{agent}"

[agents.candidate]
kind = "python"
callable = "tests.sample_agents:{agent}"
"""


def setup(tmp_path: Path, n: int, *, agent: str = "deterministic", concurrency: int = 16, grace: float = 10,
          records: list | None = None) -> tuple[Store, Path]:
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records or simple_records(n))], "d", progress=False)
    config = tmp_path / "harness.toml"
    config.write_text(CONFIG.format(agent=agent, concurrency=concurrency, grace=grace), encoding="utf-8")
    return store, config


def response_count(db: Path, run_id: str) -> int:
    try:
        reader = Store(db, read_only=True)
        return int(reader.sql("SELECT count(*) AS n FROM responses WHERE run_id = ?", [run_id])["n"][0])
    except Exception:  # noqa: BLE001 - the run row may not exist yet
        return 0


def assert_complete_and_unique(store: Store, run_id: str, expected: int) -> None:
    k = store.sql("SELECT request_id, arm, sample, count(*) AS n, any_value(output) AS output FROM responses"
                  " WHERE run_id = ? GROUP BY ALL", [run_id])
    assert k.height == expected
    assert k["n"].max() == 1
    for rid, output in zip(k["request_id"].to_list(), k["output"].to_list(), strict=True):
        assert output == f"det:{rid}:question number {rid[1:]}"


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_at_a_random_moment_then_resume(tmp_path: Path, seed: int) -> None:
    n = 1500
    store, config = setup(tmp_path, n)
    db = tmp_path / "h.duckdb"
    proc = start_harness("replay", "-c", str(config), "--run-id", "k1", "--db", str(db), SAMPLE_AGENT_DELAY="0.01")
    moment = random.Random(seed).randint(300, 3000)
    wait_for(lambda: response_count(db, "k1") >= moment, timeout=120)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert store.run("k1")["status"] == "running"  # killed: nobody closed it
    partial = response_count(db, "k1")
    assert 0 < partial < 3 * n
    done = run_harness("replay", "-c", str(config), "--run-id", "k1", "--db", str(db), SAMPLE_AGENT_DELAY="0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "k1"
    assert store.run("k1")["status"] == "completed"
    assert_complete_and_unique(store, "k1", 3 * n)
    again = run_harness("replay", "-c", str(config), "--run-id", "k1", "--db", str(db))
    assert again.returncode == 0 and "already completed" in again.stderr


def test_ctrl_c_drains_cancels_after_grace_and_resume_redoes(tmp_path: Path) -> None:
    records = simple_records(40)
    for i, r in enumerate(records):  # the first few answer at once; the rest are still running at Ctrl-C
        r["metadata"]["behaviour"] = "sleep:0.05" if i < 3 else "sleep:30"
    store, config = setup(tmp_path, 0, agent="agent", concurrency=8, grace=0.1, records=records)
    db = tmp_path / "h.duckdb"
    proc = start_harness("replay", "-c", str(config), "--run-id", "c1", "--db", str(db))
    wait_for(lambda: response_count(db, "c1") >= 9, timeout=60)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 5, stderr
    assert "stopping" in stderr and "interrupted" in stderr
    run = store.run("c1")
    assert run["status"] == "interrupted"
    cancelled = store.sql("SELECT count(*) AS n FROM responses WHERE run_id = 'c1' AND error_type = 'cancelled'")
    assert cancelled["n"][0] == 8  # every in-flight call outlived the 0.1 s grace
    done = run_harness("replay", "-c", str(config), "--run-id", "c1", "--db", str(db),
                       SAMPLE_AGENT_SLEEP_SCALE="0.001")
    assert done.returncode == 0, done.stderr
    k = store.sql("SELECT count(*) AS n, count(error_type) AS errors, count(DISTINCT (request_id, arm, sample)) AS keys"
                  " FROM responses WHERE run_id = 'c1'")
    assert (k["n"][0], k["errors"][0], k["keys"][0]) == (120, 0, 120)


def test_read_only_reader_held_open_during_replay(tmp_path: Path) -> None:
    n = 1200
    store, config = setup(tmp_path, n)
    db = tmp_path / "h.duckdb"
    reader_script = textwrap.dedent(f"""
        import time, harness
        store = harness.open_store({str(db)!r}, read_only=True)   # held open for the whole replay
        counts = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = store.runs()
            n = int(store.sql("SELECT count(*) AS n FROM responses")["n"][0])
            counts.append(n)
            if runs.height and runs["status"][0] == "completed" and n == {3 * n}:
                break
            time.sleep(0.01)
        assert counts == sorted(counts), "a reader saw results disappear"
        print(len(counts), len(set(counts)), counts[-1])
    """)
    reader = subprocess.Popen([sys.executable, "-c", reader_script], env=harness_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    result = run_harness("replay", "-c", str(config), "--run-id", "r1", "--db", str(db), SAMPLE_AGENT_DELAY="0.02")
    assert result.returncode == 0, result.stderr
    out, err = reader.communicate(timeout=150)
    assert reader.returncode == 0, err
    polls, distinct, last = map(int, out.split())
    assert distinct > 5 and last == 3 * n, out  # it saw the results grow while the replay wrote them
    assert_complete_and_unique(store, "r1", 3 * n)


def test_second_ctrl_c_stops_at_once_says_how_to_resume_and_marks_the_run_interrupted(tmp_path: Path) -> None:
    """Regression: a double Ctrl-C printed only `interrupted` and left the run `failed`."""
    import threading

    records = simple_records(30)
    for i, r in enumerate(records):
        r["metadata"]["behaviour"] = "sleep:0.05" if i < 2 else "sleep:60"
    store, config = setup(tmp_path, 0, agent="agent", concurrency=4, grace=120, records=records)
    db = tmp_path / "h.duckdb"
    proc = start_harness("replay", "-c", str(config), "--run-id", "cc2", "--db", str(db))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    wait_for(lambda: response_count(db, "cc2") >= 2, timeout=60)
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: any("stopping run cc2" in line for line in lines), timeout=60)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)  # far less than the 120 s grace the first Ctrl-C gave
    reader.join(timeout=10)
    stderr = "".join(lines)
    assert proc.returncode in (5, 130), stderr
    assert "cc2" in stderr and "harness replay --run-id cc2" in stderr, stderr
    assert store.run("cc2")["status"] == "interrupted"
