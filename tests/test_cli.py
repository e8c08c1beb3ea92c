"""The command line: help for every command, documented in the README, exit codes a CI job can use."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.conftest import simple_records, write_jsonl
from tests.procs import REPO, harness_env, run_harness

runner = CliRunner()
COMMANDS = sorted(cmd.name or cmd.callback.__name__ for cmd in app.registered_commands)  # type: ignore[union-attr]


def test_top_level_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and "--db" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented_in_the_readme(command: str) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"`harness {command}\b", readme), f"README does not document `harness {command}`"


def test_exit_codes(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    bad_config = tmp_path / "harness.toml"
    bad_config.write_text("[replay]\nconcurency = 4\n", encoding="utf-8")
    result = run_harness("replay", "-c", str(bad_config), "--db", str(db))
    assert result.returncode == 1
    assert "harness.toml: replay.concurency: unknown key" in result.stderr
    usage = run_harness("ingest", "--db", str(db))
    assert usage.returncode == 2
    missing = run_harness("show", "no-such-run", "--db", str(db))
    assert missing.returncode == 1 and "no harness store" in missing.stderr


def test_ingest_runs_and_show_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    log = write_jsonl(tmp_path / "log.jsonl", [*simple_records(20), "{broken"])
    result = run_harness("ingest", str(log), "--name", "d", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert "20 requests" in result.stdout and "1 malformed" in result.stdout
    assert f"{log}:21" in result.stderr
    quarantine = run_harness("quarantine", "d", "--db", str(db))
    assert quarantine.returncode == 0 and "invalid JSON" in quarantine.stdout
    config = tmp_path / "harness.toml"
    config.write_text('[replay]\ndataset = "d"\n[agents.prod]\nkind = "python"\ncallable = "tests.sample_agents:agent"\n'
                      '[agents.candidate]\nkind = "python"\ncallable = "tests.sample_agents:sync_agent"\n')
    replayed = run_harness("replay", "-c", str(config), "--run-id", "cli-1", "--db", str(db))
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.strip() == "cli-1"
    # not a terminal (a CI log): progress is whole lines of text, never a bar cut short
    line = next(x for x in replayed.stderr.splitlines() if x.startswith("replay cli-1"))
    assert "60/60" in line and "spent" in line and "━" not in replayed.stderr and "…" not in replayed.stderr
    runs = run_harness("runs", HARNESS_DB=str(db))
    assert runs.returncode == 0 and "cli-1" in runs.stdout and "completed" in runs.stdout
    show = run_harness("--db", str(db), "show", "cli-1")
    assert show.returncode == 0
    for text in ("prod_repeat", "candidate", "p99", "0.0%", " ms"):  # rates in percent, latencies in ms
        assert text in show.stdout


def test_a_changed_dataset_is_refused_with_the_options_that_help(tmp_path: Path) -> None:
    db = str(tmp_path / "h.duckdb")
    first = write_jsonl(tmp_path / "a.jsonl", simple_records(3))
    second = write_jsonl(tmp_path / "b.jsonl", simple_records(4))
    assert CliRunner().invoke(app, ["ingest", str(first), "--name", "d", "--db", db]).exit_code == 0
    refused = CliRunner().invoke(app, ["ingest", str(second), "--name", "d", "--db", db])
    assert refused.exit_code == 1
    assert "datasets are immutable: choose another --name, or pass --replace" in refused.output
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01binary")
    unknown = CliRunner().invoke(app, ["ingest", str(junk), "--name", "j", "--db", db])
    assert unknown.exit_code == 1 and "name it (--format)" in unknown.output



def test_replay_reaches_its_agents_before_loading_polars(tmp_path: Path) -> None:
    """A replay's first calls wait for no heavy import: requests are read as rows, and polars (with
    Arrow and numpy) loads in the writer's thread for the first batch of responses."""
    from harness.ingest import ingest
    from harness.store import Store

    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", simple_records(4))], "d", progress=False)
    agent = '[agents.{}]\nkind = "python"\ncallable = "tests.sample_agents:loaded_libraries"\n'
    (tmp_path / "harness.toml").write_text(  # one batch, written after every call has answered
        '[replay]\ndataset = "d"\nconcurrency = 1\nprod_repeat_fraction = 0\nflush_rows = 100\nflush_interval_s = 600\n'
        + agent.format("prod") + agent.format("candidate"), encoding="utf-8")
    _quick("replay", "--config", str(tmp_path / "harness.toml"), "--db", str(store.path), "--run-id", "r1")
    outputs = Store(store.path, read_only=True).responses("r1")["output"].to_list()
    assert outputs == ["none"] * 8, outputs


_LOADED = """import sys
from harness.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("loaded:", *(m for m in ("polars", "pyarrow", "numpy", "scipy", "torch") if m in sys.modules))
"""


def _quick(*args: str) -> str:
    """What `harness <args>` printed, then the heavy libraries it imported (`loaded: ...`)."""
    result = subprocess.run([sys.executable, "-c", _LOADED, *args], capture_output=True, text=True, check=False,
                            env=harness_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_help_and_runs_load_no_heavy_library(tmp_path: Path) -> None:
    """`harness --help` and `harness runs` answer in a fraction of a second (bench/startup.py prints
    the figures) because neither imports polars, Arrow, numpy, scipy or torch."""
    from harness.config import parse_config
    from harness.ingest import ingest
    from harness.replay import replay
    from harness.store import Store

    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", simple_records(3))], "d", progress=False)
    agent = {"kind": "python", "callable": "tests.sample_agents:agent"}
    replay(parse_config({"replay": {"dataset": "d"}, "agents": {"prod": agent, "candidate": agent}}), store=store,
           run_id="quick-1", progress=False)
    helped = _quick("--help")
    assert "Usage" in helped and helped.rstrip().endswith("loaded:"), helped[-300:]
    listed = _quick("runs", "--db", str(store.path))
    assert "quick-1" in listed and "completed" in listed and listed.rstrip().endswith("loaded:"), listed[-300:]
