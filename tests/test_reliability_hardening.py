"""Issue 11's smaller defects, each reproduced first: names that escape reports/, Rich markup in
user values, shell-unsafe reproduce lines, a CSP without base-uri, pages made wide by one long
token, huge outputs in the report, a full disk, and a command agent's grandchild holding stdout."""

from __future__ import annotations

import contextlib
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from harness.config import parse_config
from harness.errors import HarnessError, StoreFullError
from harness.ingest import ingest
from harness.names import InvalidNameError
from harness.replay import replay
from harness.report import write_report
from harness.scoring import score_run
from harness.store import Store
from tests.browser import browser_page
from tests.conftest import simple_records, write_jsonl
from tests.procs import run_harness

CAPTURED = {"prod": {"kind": "captured", "variant": "prod"}, "candidate": {"kind": "captured", "variant": "cand"}}


def captured_run(store: Store, tmp_path: Path, name: str, output: str = "fine", n: int = 40) -> str:
    """prod, prod_repeat ("again") and candidate ("cand") answers from the log."""
    records = [{"request_id": f"q{i}", "input": f"question {i}", "user_id": f"u{i % 9}", "captured": [
        {"variant": v, "output": "fine", "latency_ms": 100} for v in ("prod", "again")] + [
        {"variant": "cand", "output": output, "latency_ms": 100}]} for i in range(n)]
    ingest(store, [write_jsonl(tmp_path / f"{uuid.uuid4().hex}.jsonl", records)], name, progress=False)
    agents = {**CAPTURED, "prod_repeat": {"kind": "captured", "variant": "again"}}
    config = parse_config({"replay": {"dataset": name}, "agents": agents})
    return replay(config, store=store, progress=False).run_id


@contextlib.contextmanager
def tiny_disk(tmp_path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (the machine's root can mount one; the test is skipped where it cannot)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_run_ids_from_the_python_api_cannot_escape_reports(store: Store, tmp_path: Path) -> None:
    for bad in ("../../x", "/abs/x", "a/b", "", "x\n"):
        with pytest.raises(InvalidNameError, match="is not valid"):
            write_report(store, bad)
        with pytest.raises(InvalidNameError):
            replay(parse_config({"replay": {"dataset": "d"}, "agents": CAPTURED}), store=store, run_id=bad,
                   progress=False)
    result = run_harness("report", "../../x", "--db", str(store.path), cwd=tmp_path)
    assert result.returncode == 2 and "is not valid" in result.stderr


def test_user_values_are_never_read_as_rich_markup(store: Store, tmp_path: Path) -> None:
    name = "mk[/bold]x [red]y"
    ingest(store, [write_jsonl(tmp_path / "l.jsonl", [*simple_records(5), "{broken"])], name, progress=False)
    for args in (["quarantine", name], ["canary-plan", "--dataset", name]):
        result = run_harness(*args, "--db", str(store.path))
        assert result.returncode == 0, result.stderr
        assert name in result.stdout.replace("\n", "")


def test_report_quotes_names_for_the_shell_and_locks_the_page_down(store: Store, tmp_path: Path) -> None:
    name = "x'; rm -rf ~; '"
    run_id = captured_run(store, tmp_path, name, output="A" * 60_000)
    score_run(store, run_id, progress=False)  # the huge answers become top regressions, shown side by side
    html = write_report(store, run_id, tmp_path / "r.html").read_text(encoding="utf-8")
    commands = re.findall(r"<code>(harness run [^<]*)</code>", html)
    assert shlex.split(unescape(commands[0]))[-2:] == ["--dataset", name]  # one word for the shell, not a command
    assert "base-uri 'none'; form-action 'none'" in html
    assert "[... 40,000 more characters not shown]" in html and "A" * 20_001 not in html
    with browser_page() as page:
        page.goto((tmp_path / "r.html").as_uri())
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1300, f"one long token made the page {width}px wide"


def test_a_full_disk_is_said_plainly_and_leaves_no_half_report(store: Store, tmp_path: Path) -> None:
    run_id = captured_run(store, tmp_path, "d")
    with tiny_disk(tmp_path, "4k") as disk:
        target = disk / "report.html"
        with pytest.raises(HarnessError, match="the disk is full"):
            write_report(store, run_id, target)
        assert list(disk.iterdir()) == []  # neither a truncated report nor a temporary file
    (tmp_path / "b").mkdir()
    with tiny_disk(tmp_path / "b", "1m") as disk:
        records = [{"request_id": f"q{i}", "input": "x" * 2000} for i in range(3000)]
        log = write_jsonl(tmp_path / "big.jsonl", records)
        with pytest.raises(StoreFullError, match="the disk is full"):
            ingest(Store(disk / "h.duckdb"), [log], "big", progress=False)
        result = run_harness("ingest", str(log), "--name", "big2", "--db", str(disk / "h2.duckdb"))
        assert result.returncode == 1 and "the disk is full" in result.stderr and "Traceback" not in result.stderr


def test_a_command_agent_that_leaves_a_grandchild_holding_stdout(store: Store, tmp_path: Path) -> None:
    marker = f"harness-orphan-{uuid.uuid4().hex}"
    agent = tmp_path / "agent.py"
    agent.write_text(f"""import json, subprocess, sys
request = json.load(sys.stdin)
subprocess.Popen(["sleep", "300", "{marker}"], stdout=sys.stdout)  # inherits stdout, outlives the agent
print(json.dumps({{"output": "answer to " + request["request_id"]}}), flush=True)
""", encoding="utf-8")
    ingest(store, [write_jsonl(tmp_path / "l.jsonl", simple_records(6))], "d", progress=False)
    command = {"kind": "command", "command": [sys.executable, str(agent)]}
    config = parse_config({"replay": {"dataset": "d", "timeout_s": 60, "max_attempts": 1,
                                      "prod_repeat_fraction": 0.0}, "agents": {"prod": command, "candidate": command}})
    summary = replay(config, store=store, progress=False)
    rows = store.responses(summary.run_id)
    assert rows["error_type"].null_count() == 12, rows["error_message"].to_list()
    assert rows["output"].to_list()[0].startswith("answer to ")
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    assert left == [], f"orphans left behind: {left}"
