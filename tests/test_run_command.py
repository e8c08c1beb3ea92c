"""`harness run`: the release job replays, scores and gates in one go and exits with the verdict."""

from __future__ import annotations

from pathlib import Path

from harness.ingest import ingest
from harness.store import Store
from tests.conftest import write_jsonl
from tests.procs import run_harness

CONFIG = """
[replay]
dataset = "d"
concurrency = 16

[agents.prod]
kind = "python"
callable = "tests.sample_agents:agent"

[agents.candidate]
kind = "python"
callable = "tests.sample_agents:{candidate}"

[scoring]

[gates]
n_bootstrap = 500
"""


def setup(tmp_path: Path, candidate: str) -> tuple[Store, Path]:
    records = [{"request_id": f"r{i}", "input": f"question {i}", "user_id": f"u{i % 30}",
                "reference": f"answer to question {i}", "metadata": {"intent": "a" if i % 2 else "b"}}
               for i in range(120)]  # fmt: skip
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records)], "d", progress=False)
    config = tmp_path / "harness.toml"
    config.write_text(CONFIG.format(candidate=candidate), encoding="utf-8")
    return store, config


def test_same_agent_proceeds(tmp_path: Path) -> None:
    store, config = setup(tmp_path, "agent")
    result = run_harness("run", "--config", str(config), "--db", str(store.path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: proceed" in result.stdout
    assert "loading the embedding model all-MiniLM-L6-v2" in result.stderr  # the bar sits at 0/N meanwhile
    run_id = store.runs()["run_id"][0]
    assert f"run id: {run_id}" in result.stdout
    assert store.verdict(run_id)["verdict"] == "proceed"
    assert store.scores(run_id, "similarity").height > 0


def test_failing_candidate_rolls_back(tmp_path: Path) -> None:
    store, config = setup(tmp_path, "broken")
    result = run_harness("run", "--config", str(config), "--db", str(store.path), "--fail-on", "rollback",
                         cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "verdict: rollback" in result.stdout and "error_rate" in result.stdout
