"""State migrations in a release: the demo's planted bug in the verdict and the report, the CLI
(ingest-states, migrate-check, show-migration, gate) with its exit codes, and a migrate-check
process SIGKILLed mid-way and resumed."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.config import load_config
from harness.migration import check_migration, ingest_states
from harness.report import write_report
from harness.stats import stable_fraction
from harness.store import Store
from tests.conftest import write_jsonl
from tests.demo_fixture import demo_db  # noqa: F401
from tests.migration_code import SCHEMA_V2
from tests.procs import REPO, run_harness, start_harness, wait_for

DEMO_CHECK = "demo-state-v1-to-v2"
runner = CliRunner()


@pytest.mark.timeout(600)
def test_the_demo_finds_the_planted_bug_and_the_verdict_and_report_show_it(demo_db: Path) -> None:  # noqa: F811
    store = Store(demo_db, read_only=True)
    states = store.states("demo-states")
    legacy = {k for k, s in zip(states["key"], states["state"], strict=True)
              if isinstance(json.loads(s)["preferences"], str)}
    results = store.migration_results(DEMO_CHECK)
    broken = set(results.filter(results["outcome"] != "ok")["key"])
    assert legacy and broken == legacy  # exactly the legacy shape breaks, nothing else
    assert set(results.filter(results["outcome"] != "ok")["error_kind"]) == {"AttributeError"}
    assert results.height == states.height == store.state_set("demo-states")["n_states"]
    run_id = store.runs()["run_id"][0]
    verdict = store.verdict(run_id)
    assert verdict is not None and verdict["verdict"] == "rollback"
    assert any(r.startswith("migration_error_rate (critical) fails") for r in verdict["reasons"])
    gate = store.gate_results(run_id).filter(store.gate_results(run_id)["check_name"] == "migration_error_rate")
    assert gate["status"].to_list() == ["fail"] and gate["n"].to_list() == [states.height]
    html = (demo_db.parent / "reports" / f"{run_id}.html").read_text(encoding="utf-8")
    assert 'id="migration"' in html and "State migration validated" in html
    assert "AttributeError: &#39;str&#39; object has no attribute &#39;get&#39;" in html
    assert "$.memory" in html and "added" in html  # field statistics


def test_show_migration_and_gate_from_the_command_line(demo_db: Path, tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "h.duckdb"
    shutil.copy(demo_db, db)
    shown = runner.invoke(app, ["show-migration", DEMO_CHECK, "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    for text in ("outcomes", "per canary step", "top error kinds", "AttributeError", "field changes",
                 "migration_error_rate (critical) fails"):
        assert text in shown.stdout
    listed = runner.invoke(app, ["show-migration", "--db", str(db)])
    assert "demo-states" in listed.stdout and DEMO_CHECK in listed.stdout
    run_id = Store(db, read_only=True).runs()["run_id"][0]
    gated = runner.invoke(app, ["gate", run_id, "-c", str(demo_db.parent / "harness.toml"), "--db", str(db)])
    assert gated.exit_code == 4 and "migration_error_rate" in gated.stdout
    plain = runner.invoke(app, ["gate", run_id, "--db", str(db)])  # no config naming a check: no migration gate
    assert "migration_error_rate" not in plain.stdout
    # the library names its parameters; the command line says which option sets them
    bad = runner.invoke(app, ["migrate-check", "--states", "demo-states", "--transform", "tests.migration_code:nope",
                              "--schema", "tests.migration_code:StateV2", "--check-id", "bad", "--db", str(db)])
    assert bad.exit_code == 1 and "--transform 'tests.migration_code:nope'" in bad.output and "`" not in bad.output
    unnamed = runner.invoke(app, ["migrate-check", "--transform", "x:y", "--schema", "x:Y", "--db", str(db)])
    assert unnamed.exit_code == 1 and "a migration check needs --states" in unnamed.output


def test_report_escapes_and_redacts_what_states_and_transforms_say(demo_db: Path, tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "h.duckdb"
    shutil.copy(demo_db, db)
    store = Store(db)
    hostile = [{"key": f"<img src=x onerror=alert({i})>", "state": {"user": "x", "kind": "email_error"}}
               for i in range(2)] + [{"key": "bob@example.com", "state": {"user": "bob", "kind": "email_error"}}]
    ingest_states(store, [write_jsonl(tmp_path / "s.jsonl", hostile)], "hostile", schema_version="v1",
                  progress=False)
    config = load_config(demo_db.parent / "harness.toml")
    migration = config.migration.model_copy(update={  # type: ignore[union-attr]
        "check": "hostile", "states": "hostile", "transform": "tests.migration_code:upgrade",
        "target_schema": "tests.migration_code:StateV2", "invariants": None, "idempotent": False})
    check_migration(store, migration, base_dir=REPO, progress=False)
    run_id = store.runs()["run_id"][0]
    html = write_report(store, run_id, tmp_path / "r.html",
                        config=config.model_copy(update={"migration": migration})).read_text(encoding="utf-8")
    section = html[html.index('id="migration"'):]
    assert "<script>alert" not in section and "<img src=x" not in section
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in section
    assert "&lt;img src=x onerror=alert(0)&gt;" in section
    assert "example.com" not in section and "[EMAIL]" in section
    assert "Not part of this run's verdict" in section


def _children(pid: int) -> set[int]:
    """Every descendant of a process, from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += list(kids - found)
            found |= kids
    return found


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_a_stopped_then_killed_migrate_check_resumes_without_redoing_or_losing_states(tmp_path: Path) -> None:
    db, calls = str(tmp_path / "h.duckdb"), tmp_path / "calls.log"
    users = sorted((f"user-{i:03d}" for i in range(200)), key=lambda u: stable_fraction(u, "canary"))
    kinds = {u: "slow" for u in users} | {users[-1]: "raise", users[-2]: "invalid", users[-3]: "raise"}
    states = write_jsonl(tmp_path / "s.jsonl", [{"key": u, "state": {"user": u, "kind": k, "history": ["a"]}}
                                                for u, k in kinds.items()])
    ingest_states(Store(db), [states], "s", schema_version="v1", progress=False)
    args = ("migrate-check", "--states", "s", "--transform", "tests.migration_code:upgrade", "--schema",
            "tests.migration_code:StateV2", "--check-id", "k", "--workers", "2", "--db", db)

    def written() -> int:
        return Store(db, read_only=True).sql("SELECT count(*) AS n FROM migration_results")["n"][0]

    def start_and_wait_for_progress(run: str, beyond: int) -> tuple[object, set[int]]:
        # Slow enough per state that the signal lands mid-work however fast the machine is.
        proc = start_harness(*args, MIG_CALLS=str(calls), MIG_RUN=run, MIG_SLOW_S="0.2")
        try:
            wait_for(lambda: written() > beyond or proc.poll() is not None, timeout=120)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return proc, _children(proc.pid)
        except BaseException:
            proc.kill()
            raise

    # SIGTERM: it stops like Ctrl-C, keeps what is done, says so and exits 5
    first, _ = start_and_wait_for_progress("first", 0)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=120) == 5
    assert Store(db, read_only=True).migration_check("k")["status"] == "interrupted"
    # SIGKILL: nothing is said, the workers go with their parent
    second, family = start_and_wait_for_progress("second", written())
    assert len(family) >= 2  # the forkserver and the workers
    second.send_signal(signal.SIGKILL)
    second.wait()
    wait_for(lambda: all(_gone(p) for p in family), timeout=60)
    before = set(Store(db, read_only=True).migration_results("k")["key"])
    assert 0 < len(before) < len(users)
    third = run_harness(*args, MIG_CALLS=str(calls), MIG_RUN="third", MIG_SLOW_S="0.02")
    assert third.returncode == 4, third.stderr  # broken states: a critical failure
    assert "migration_error_rate (critical) fails: 3 of 200 states" in third.stdout
    store = Store(db, read_only=True)
    results = {r["key"]: r["outcome"] for r in store.migration_results("k").to_dicts()}
    assert set(results) == set(users) and store.migration_check("k")["status"] == "completed"
    assert [u for u in users if results[u] != "ok"] == users[-3:]
    runs = [line.split() for line in calls.read_text().splitlines()]
    redone = {user for run, user in runs if run == "third"}
    assert not redone & before  # what was written before the kill is not redone ...
    assert {user for _, user in runs} == set(users)  # ... and nothing is lost


def test_exit_codes_and_a_config_driven_check(store: Store, tmp_path: Path) -> None:
    users = sorted((f"u{i}" for i in range(40)), key=lambda u: stable_fraction(u, "canary"))
    states = [{"key": u, "state": {"user": u, "kind": "raise" if u == users[-1] else "ok"}} for u in users]
    db = str(store.path)
    loaded = runner.invoke(app, ["ingest-states", str(write_jsonl(tmp_path / "s.jsonl", [*states, "{bad"])),
                                 "--name", "s", "--schema-version", "v1", "--db", db])
    assert loaded.exit_code == 0 and "40 states" in loaded.stdout and "1 malformed" in loaded.stdout
    assert "s.jsonl:41: invalid JSON" in loaded.output
    common = ["--states", "s", "--transform", "tests.migration_code:upgrade", "--schema",
              "tests.migration_code:StateV2", "--db", db]
    both = runner.invoke(app, ["migrate-check", *common, "--sample", "5", "--cohort", "5"])
    assert both.exit_code == 2 and "either sample or cohorts" in both.output
    missing = runner.invoke(app, ["migrate-check", "--states", "nope", "--transform", "a:b", "--schema", "x:Y",
                                  "--db", db])
    assert missing.exit_code == 1 and "no state set named 'nope'" in missing.output
    sampled = runner.invoke(app, ["migrate-check", *common, "--sample", "5", "--check-id", "sampled"])
    assert sampled.exit_code == 3, sampled.output  # 5 clean states prove nothing about 40
    assert "inconclusive" in sampled.stdout
    config = tmp_path / "harness.toml"
    config.write_text('[migration]\ncheck = "cfg"\nstates = "s"\ntransform = "tests.migration_code:upgrade"\n'
                      'schema = "schema_v2.json"\nmax_error_rate = 0.05\n', encoding="utf-8")
    (tmp_path / "schema_v2.json").write_text(json.dumps(SCHEMA_V2), encoding="utf-8")  # relative to the config
    passed = runner.invoke(app, ["migrate-check", "-c", str(config), "--db", db])
    assert passed.exit_code == 0, passed.output  # 1 of 40 is within 5%
    assert "migration_error_rate (critical) passes: 1 of 40 states (2.5%)" in passed.stdout
