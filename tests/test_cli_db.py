"""Where the data is: every command says which DuckDB file it used, takes --config for `db`, and a
"not found" names the file and lists what it does hold, the closest names first."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import simple_records, write_jsonl
from tests.procs import run_harness


def test_ingest_without_options_says_where_it_wrote_and_config_db_is_honoured_everywhere(tmp_path: Path) -> None:
    """Regression: `ingest` wrote ./harness.duckdb silently, then `run --config` read the config's db."""
    log = write_jsonl(tmp_path / "log.jsonl", simple_records(12))
    local = run_harness("ingest", str(log), "--name", "support-nov", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    assert f"database: {tmp_path / 'harness.duckdb'}" in local.stderr

    config = tmp_path / "harness.toml"
    config.write_text(f'db = "{tmp_path / "team.duckdb"}"\n[agents.prod]\nkind = "python"\n'
                      'callable = "tests.sample_agents:agent"\n[agents.candidate]\nkind = "python"\n'
                      'callable = "tests.sample_agents:agent"\n', encoding="utf-8")
    team = run_harness("ingest", str(log), "--name", "support-dec", "--config", str(config), cwd=tmp_path)
    assert team.returncode == 0 and f"database: {tmp_path / 'team.duckdb'}" in team.stderr
    listed = run_harness("datasets", "--config", str(config), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "support-dec" in listed.stdout and "support-nov" not in listed.stdout
    for column in ("requests", "captured", "malformed", "format", "redacted", "created"):
        assert column in listed.stdout

    missing = run_harness("replay", "--config", str(config), "--dataset", "support-nov", cwd=tmp_path)
    assert missing.returncode == 1
    assert f"no dataset named 'support-nov' in {tmp_path / 'team.duckdb'}" in missing.stderr
    assert "datasets there: 'support-dec'" in missing.stderr

    shown = run_harness("show", "run-2026-11", "--config", str(config), cwd=tmp_path)
    assert shown.returncode == 1 and f"no run 'run-2026-11' in {tmp_path / 'team.duckdb'}" in shown.stderr
    assert "there are no runs in it yet" in shown.stderr


def test_db_precedence_is_what_the_help_says(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", simple_records(5))
    for name in ("a", "b", "c"):
        db = str(tmp_path / f"{name}.duckdb")
        assert run_harness("ingest", str(log), "--name", f"in-{name}", "--db", db).returncode == 0
    env = {"HARNESS_DB": str(tmp_path / "c.duckdb")}
    after = run_harness("--db", str(tmp_path / "a.duckdb"), "datasets", "--db", str(tmp_path / "b.duckdb"), **env)
    assert "in-b" in after.stdout, after.stderr
    before = run_harness("--db", str(tmp_path / "a.duckdb"), "datasets", **env)
    assert "in-a" in before.stdout, before.stderr
    from_env = run_harness("datasets", **env)
    assert "in-c" in from_env.stdout and f"database: {tmp_path / 'c.duckdb'}" in from_env.stderr
    help_text = run_harness("datasets", "--help").stdout
    assert "HARNESS_DB" in " ".join(help_text.split())


def test_not_found_lists_the_closest_names_first(tmp_path: Path) -> None:
    from harness.names import what_exists

    assert what_exists("suport-nov", ["eval-a", "support-dec", "support-nov"], "datasets") == \
        "datasets there: 'support-nov', 'support-dec', 'eval-a' (closest first)"
    assert what_exists("x", [], "runs") == "there are no runs in it yet"


def test_ingest_format_help_lists_every_format() -> None:
    """Every name `--format` accepts (readers and their other names) is in its help."""
    from typer.testing import CliRunner

    from harness.capture import ALIASES, READERS
    from harness.cli import app
    from harness.cli.data import _FORMAT_HELP

    names = set(READERS) | set(ALIASES)
    assert names >= {"jsonl", "json", "otel", "inspect"}
    missing = sorted(n for n in names if n not in _FORMAT_HELP)
    assert not missing, f"ingest --format help lacks {missing}"
    assert "--format" in CliRunner().invoke(app, ["ingest", "--help"]).output
