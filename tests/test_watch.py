"""`harness watch`: a live canary's logs tailed, looked at with anytime-valid gates, decided.

Real files that grow, are truncated and rotated; a real DuckDB file; the CLI as a process whose
output is read as it comes (no sleeping on the clock); a real HTTP server on loopback."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.config import GatesConfig
from harness.store import Store
from harness.watch import AnalysisServer, Assignment, Watcher, WatchOptions
from harness.watch.observe import observe
from harness.watch.tail import Chunk
from tests.procs import start_harness

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def lines(prefix: str, n: int, variant: str | None, *, error_every: int = 0, start: int = 0,
          users: int = 1000) -> str:
    """n canonical records, a minute apart, answered by `variant` (no variant: None)."""
    out = []
    for i in range(start, start + n):
        captured: dict[str, Any] = {"output": "ok", "latency_ms": 100 + i % 7, "cost_usd": 0.001,
                                    "error": "boom" if error_every and i % error_every == 0 else None}
        if variant is not None:
            captured["variant"] = variant
        out.append(json.dumps({"request_id": f"{prefix}{i}", "input": "q", "user_id": f"u{i % users}",
                               "timestamp": (START + timedelta(minutes=i)).isoformat(), "captured": captured}))
    return "\n".join(out) + "\n"


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def watcher(store: Store, root: Path, **options: Any) -> Watcher:
    settings = GatesConfig(checks={"latency_p99": {"enabled": False}})  # p99 needs hundreds of answers
    return Watcher(store, settings, WatchOptions(root, "canary-test", options.pop("assignment", Assignment()),
                                                 options.pop("duration_h", 0.5), **options))


def test_no_prod_traffic_yet_continues_with_a_reason(tmp_path: Path, store: Store) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "canary.jsonl").write_text(lines("c", 60, "canary"))
    look = watcher(store, tmp_path / "logs").look()
    assert look["decision"] == "continue" and not look["final"]
    assert look["reason"].startswith("no prod traffic yet") and look["n_canary"] == 60 and look["n_prod"] == 0


def test_restart_resumes_with_the_same_decision_and_reads_only_what_is_new(tmp_path: Path, store: Store) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    append(logs / "mixed.jsonl", lines("p", 80, "prod") + lines("c", 80, "canary"))
    first = watcher(store, logs).look()
    again = watcher(store, logs).look()  # a new process: offsets and records come from the store
    assert again["look"] == first["look"] + 1 and again["decision"] == first["decision"]
    assert (again["n_canary"], again["n_prod"], again["new_records"]) == (80, 80, 0)
    assert [c["status"] for c in again["checks"]] == [c["status"] for c in first["checks"]]
    append(logs / "mixed.jsonl", lines("c", 5, "canary", start=80) + '{"request_id": "half')  # a partial line waits
    more = watcher(store, logs).look()
    assert more["new_records"] == 5 and more["n_canary"] == 85
    assert [lk["decision"] for lk in store.looks("watch:canary-test")] == [first["decision"], again["decision"],
                                                                             more["decision"]]


def test_truncation_and_rotation_are_reported_and_nothing_counts_twice(tmp_path: Path, store: Store) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "canary.jsonl"
    log.write_text(lines("p", 40, "prod") + lines("c", 40, "canary"))
    w = watcher(store, logs)
    assert w.look()["new_records"] == 80
    log.write_text(lines("p", 10, "prod"))  # truncated: shorter than what was read
    look = w.look()
    assert look["files"] == [{"path": str(log), "event": "truncated", "detail": look["files"][0]["detail"]}]
    assert (look["new_records"], look["repeated_records"], look["n_prod"]) == (0, 10, 40)
    os.replace(log, logs / "canary.jsonl.1")  # rotated: the old file moves, a new one takes its path
    log.write_text(lines("c", 3, "canary", start=40))
    look = w.look()
    assert {f["event"] for f in look["files"]} == {"rotated"}
    assert (look["new_records"], look["n_canary"], look["n_prod"]) == (3, 43, 40)


def test_users_without_a_variant_are_assigned_by_the_canary_plan_hash() -> None:
    chunk = Chunk("x.jsonl", lines("r", 400, None).encode())
    observed = observe([chunk], Assignment(step_percent=20, salt="canary"), 0)
    share = (observed.rows["arm"] == "canary").mean()
    assert 0.1 < share < 0.3 and observed.unassigned == 0  # type: ignore[operator]
    again = observe([chunk], Assignment(step_percent=20, salt="canary"), 0)
    assert again.rows["arm"].to_list() == observed.rows["arm"].to_list()


def test_cli_picks_up_appended_lines_and_exits_with_rollback(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "prod.jsonl").write_text(lines("p", 60, "prod"))
    hook_out = tmp_path / "hook.json"
    hook = f"{sys.executable} -c \"import sys, pathlib; pathlib.Path(r'{hook_out}').write_text(sys.stdin.read())\""
    proc = start_harness("watch", str(logs), "--db", str(tmp_path / "h.duckdb"), "--interval", "0.05",
                         "--duration", "0h", "--hook", hook, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["decision"] == "continue" and first["n_prod"] == 60
        append(logs / "canary.jsonl", lines("c", 60, "canary", error_every=2))
        decisions = []
        for line in proc.stdout:  # looks keep coming until the appended lines are seen and decided
            decisions.append(json.loads(line))
            if decisions[-1]["final"]:
                break
        assert decisions[-1]["decision"] == "rollback" and "error_rate" in decisions[-1]["reason"]
        assert proc.wait(timeout=60) == 4
        assert json.loads(hook_out.read_text())["decision"] == "rollback"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_answers_argo_and_flagger(tmp_path: Path, store: Store) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text(lines("p", 60, "prod") + lines("c", 60, "canary", error_every=2))
    w = watcher(store, logs)
    with AnalysisServer(("127.0.0.1", 0), lambda: w.latest) as server:
        url = f"http://127.0.0.1:{server.address[1]}/analysis"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert json.loads(answer.read())["decision"] == "continue"  # before the first look
        w.look()
        with urllib.request.urlopen(url, timeout=10) as answer:  # Argo Rollouts web metric: always 200
            body = json.loads(answer.read())
        assert body["decision"] == "rollback" and body["final"] and any(c["status"] == "fail" for c in body["checks"])
        with pytest.raises(urllib.error.HTTPError) as failed:  # Flagger webhook: non-2xx fails the check
            urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=10)
        assert failed.value.code == 412


def test_a_healthy_canary_is_promoted_once_the_step_has_run_its_duration(tmp_path: Path, store: Store) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "prod.jsonl").write_text(lines("p", 800, "prod"))
    (logs / "canary.jsonl").write_text(lines("c", 800, "canary"))
    look = watcher(store, logs, duration_h=48).look()
    assert look["decision"] == "continue" and "every critical check passes" in look["reason"]
    look = watcher(store, logs, duration_h=2).look()
    assert look["decision"] == "promote" and look["final"] and look["elapsed_h"] > 2
