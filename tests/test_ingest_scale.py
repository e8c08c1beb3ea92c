"""Ingest at scale: block-by-block commits behind a completion marker, so an ingest killed at any
moment leaves nothing visible and a plain rerun ingests every row exactly once."""

from __future__ import annotations

import gzip
import json
import re
import signal
from pathlib import Path

import pytest

from harness.errors import NotFoundError
from harness.ingest import ingest
from harness.ingest_bulk import scratch_root
from harness.store import Store
from tests.procs import run_harness, start_harness

FILES, LINES = 8, 250
BLOCK = {"HARNESS_INGEST_BLOCK_ROWS": str(LINES)}


def write_logs(directory: Path, prefix: str = "f") -> list[str]:
    """FILES files of LINES canonical records each: one committed block per file."""
    directory.mkdir(exist_ok=True)
    paths = []
    for f in range(FILES):
        path = directory / f"{prefix}{f}.jsonl"
        path.write_text("".join(json.dumps({"request_id": f"{prefix}{f}-{i}", "input": f"question {i}"}) + "\n"
                                for i in range(LINES)), encoding="utf-8")
        paths.append(str(path))
    return paths


def kill_after_commits(db: Path, paths: list[str], name: str, commits: int, *extra: str) -> int:
    """Start `harness ingest`, SIGKILL it as soon as it reports `commits` committed blocks."""
    proc = start_harness("ingest", *paths, "--name", name, "--db", str(db), *extra, **BLOCK)
    seen = 0
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if "committed" in line:
                seen += 1
                if seen == commits:
                    proc.send_signal(signal.SIGKILL)
                    break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert seen == commits and proc.returncode == -signal.SIGKILL, (seen, proc.returncode)
    return proc.pid


def rows(db: Path, table: str, where: str = "true") -> int:
    return int(Store(db, read_only=True).sql(f"SELECT count(*) AS n FROM {table} WHERE {where}")["n"][0])


def test_killed_ingest_leaves_nothing_visible_and_a_rerun_ingests_every_row_once(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    paths = write_logs(tmp_path / "logs")
    killed = []
    for commits in (1, 3, 6):  # several moments, each rerun cleaning up after the one before
        killed.append(kill_after_commits(db, paths, "big", commits))
        store = Store(db, read_only=True)
        assert store.datasets().height == 0
        with pytest.raises(NotFoundError):
            store.dataset("big")
        assert rows(db, "requests", "dataset = 'big'") == 0 and rows(db, "quarantine", "dataset = 'big'") == 0
        assert rows(db, "requests") >= commits * LINES  # the committed blocks are there, staged out of sight

    store = Store(db)
    summary = ingest(store, paths, "big", progress=False)  # no --replace needed
    assert summary.n_requests == FILES * LINES and not summary.replaced
    requests = store.requests("big")
    assert requests.height == FILES * LINES and requests["request_id"].n_unique() == FILES * LINES
    assert rows(db, "requests", "dataset <> 'big'") == 0 and rows(db, "datasets") == 1
    leftovers = [d for pid in killed for d in Path(scratch_root()).glob(f"harness-ingest-{pid}-*")]
    assert leftovers == []  # the killed ingests' block files were swept


def test_killed_replace_keeps_the_old_dataset_whole(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    old = write_logs(tmp_path / "old", prefix="old")
    ingest(Store(db), old[:1], "d", progress=False)
    new = write_logs(tmp_path / "new", prefix="new")
    kill_after_commits(db, new, "d", 2, "--replace")
    store = Store(db, read_only=True)
    assert store.requests("d")["request_id"].to_list() == [f"old0-{i}" for i in range(LINES)]
    assert store.dataset("d")["n_requests"] == LINES

    summary = ingest(Store(db), new, "d", replace=True, progress=False)
    assert summary.replaced and summary.n_requests == FILES * LINES
    assert rows(db, "requests") == FILES * LINES and rows(db, "requests", "starts_with(request_id, 'old')") == 0


def test_a_failed_ingest_removes_its_committed_blocks(store: Store, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A duplicate found only at the end, after several blocks were committed: nothing is left."""
    monkeypatch.setenv("HARNESS_INGEST_BLOCK_ROWS", str(LINES))
    paths = write_logs(tmp_path / "logs")
    Path(paths[-1]).write_text(json.dumps({"request_id": "f0-7", "input": "again"}) + "\n", encoding="utf-8")
    with pytest.raises(Exception, match=rf"'f0-7' at {paths[0]}:8, {paths[-1]}:1"):
        ingest(store, paths, "dup", progress=False)
    assert {t: int(store.sql(f"SELECT count(*) AS n FROM {t}")["n"][0])
            for t in ("datasets", "requests", "captured", "quarantine")} == dict.fromkeys(
        ("datasets", "requests", "captured", "quarantine"), 0)


def test_bad_lines_in_several_blocks_are_each_quarantined_once(store: Store, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 40 lines, DuckDB's reader first: every malformed line of the corpus, and lines only
    DuckDB's parser accepts (NaN, nan, -INF, a trailing comma, deep nesting), spread over several blocks with
    clean blocks between; each is set aside with its file, line and reason, every valid line kept once."""
    from tests.test_reliability_inputs import BAD_LINES, valid

    monkeypatch.setenv("HARNESS_INGEST_BLOCK_ROWS", "40")
    cases = {**BAD_LINES,
             "trailing_comma": (b'{"request_id": "tc", "input": "x",}', r"^invalid JSON"),
             "null_line": (b"null", r"^not a JSON object \(null\)$"),
             # DuckDB reads non-finite numbers in any case, in objects and in lists; JSON has none
             "bare_nan": (b'{"request_id": "n1", "input": "x", "metadata": {"a": nan}}', r"^invalid JSON"),
             "bare_inf_in_list": (b'{"request_id": "n2", "input": "x", "metadata": {"a": [1, -INF]}}', r"^invalid JSON"),
             "bare_infinity_first": (b'{"request_id": "n3", "input": "x", "reference": [infinity]}', r"^invalid JSON")}
    lines: list[bytes] = []
    expected: dict[int, str] = {}
    for i, (bad, reason) in enumerate(cases.values()):
        start = len(lines)
        lines.extend([valid(start + k) for k in range(25 if i % 3 else 90)])  # some blocks stay clean
        lines.append(bad)
        expected[len(lines)] = reason
    lines.append(valid(len(lines)))
    log = tmp_path / "corpus.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")

    summary = ingest(store, [log], "corpus", progress=False)
    good = [n for n in range(1, len(lines) + 1) if n not in expected]
    assert (summary.n_requests, summary.n_quarantined) == (len(good), len(expected))
    requests = store.requests("corpus")
    assert requests["line"].to_list() == good and requests["request_id"].n_unique() == len(good)
    quarantine = store.quarantine("corpus")
    assert quarantine["line"].to_list() == sorted(expected) and set(quarantine["source"]) == {str(log)}
    for line, reason in zip(quarantine["line"], quarantine["reason"], strict=True):
        assert re.search(expected[line], reason), (line, reason)


def test_hundreds_of_files_into_one_dataset_with_progress_per_file(tmp_path: Path) -> None:
    """`harness ingest logs/*`: plain and gzipped files into one dataset, a progress line per file;
    then a request id repeated in two files fails the ingest naming both places."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for f in range(100):
        data = "".join(json.dumps({"request_id": f"f{f}-{i}", "input": "q"}) + "\n" for i in range(5)).encode()
        (logs / f"p{f:03d}.jsonl{'.gz' if f % 2 else ''}").write_bytes(gzip.compress(data) if f % 2 else data)
    paths = sorted(str(p) for p in logs.iterdir())
    db = str(tmp_path / "h.duckdb")
    done = run_harness("ingest", *paths, "--name", "many", "--db", db, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "500 requests" in done.stdout
    for n, path in enumerate(paths, start=1):
        assert f"read {path} ({n}/100): 5 requests, 0 malformed" in done.stderr

    (logs / "again.jsonl").write_text(json.dumps({"request_id": "f7-3", "input": "q"}) + "\n", encoding="utf-8")
    failed = run_harness("ingest", *paths, str(logs / "again.jsonl"), "--name", "more", "--db", db, timeout=300)
    assert failed.returncode == 1
    assert f"'f7-3' at {logs / 'p007.jsonl.gz'}:4, {logs / 'again.jsonl'}:1" in failed.stderr


def test_redaction_takes_the_python_path_and_says_so(tmp_path: Path) -> None:
    log = tmp_path / "pii.jsonl"
    log.write_text(json.dumps({"request_id": "p1", "input": "mail me at jane@example.com"}) + "\n", encoding="utf-8")
    db = tmp_path / "h.duckdb"
    done = run_harness("ingest", str(log), "--name", "pii", "--redact", "--db", str(db), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "redaction runs in Python" in done.stderr
    assert Store(db, read_only=True).requests("pii")["input_text"].to_list() == ["mail me at [EMAIL]"]


def test_captured_objects_read_typed_or_as_json_are_stored_alike(store: Store, tmp_path: Path) -> None:
    """A file whose captured values are all objects is parsed straight into their type; one holding
    a list (several variants) reads them as JSON: both store the same rows."""
    import polars as pl

    objects = [{"variant": "canary", "output": "o", "usage": {"prompt_tokens": 5, "completion_tokens": "7"},
                "error": "boom", "tool_calls": [], "cost_usd": "0.5", "latency_ms": None},
               {"error": True, "usage": {"input_tokens": 3.0}},
               {"error": {"type": "timeout", "message": "slow"}, "model": "m",
                "tool_calls": [{"name": "a", "arguments": {"k": [1, {"z": None}]}}]},
               {}, None, {"error": False, "extra": {"deep": 1}}]
    lines = [json.dumps({"request_id": f"x-{i}", "input": "q", "captured": c}) for i, c in enumerate(objects)]
    typed, mixed = tmp_path / "typed.jsonl", tmp_path / "mixed.jsonl"
    typed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mixed.write_text("\n".join([*lines, json.dumps({"request_id": "list", "input": "q",
                                                     "captured": [{"variant": "a"}, {"variant": "b"}]})]) + "\n")
    ingest(store, [typed], "typed", progress=False)
    ingest(store, [mixed], "mixed", progress=False)
    assert store.captured("typed").equals(store.captured("mixed").filter(pl.col("request_id") != "list"))
    assert store.captured("mixed").filter(pl.col("request_id") == "list")["variant"].to_list() == ["a", "b"]
    row = store.captured("typed").filter(pl.col("request_id") == "x-0").row(0, named=True)
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"], row["error_message"]) == (5, 7, 0.5, "boom")
