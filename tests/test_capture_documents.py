"""Whole JSON documents: arrays of canonical records accepted, unknown shapes described, every
converting reader bounded in memory (a gzip bomb), variants checked by compare."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.capture import sniff
from harness.cli import app
from harness.errors import IngestError
from harness.ingest import ingest
from harness.store import Store
from tests.conftest import simple_records

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_json_array_of_canonical_records_is_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(simple_records(40) + [{"input": "no id"}], indent=2), encoding="utf-8")
    assert sniff(path) == "json"
    summary = ingest(store, [path], "arr", progress=False)
    assert (summary.n_requests, summary.n_quarantined) == (40, 1)
    assert store.requests("arr")["input_text"].to_list()[:2] == ["question number 0", "question number 1"]
    bad = store.quarantine("arr").row(0, named=True)
    assert (bad["line"], bad["reason"]) == (41, "missing request_id")


@pytest.mark.parametrize(("document", "described"), [
    ([{"name": "x", "value": i} for i in range(11_959)], "a JSON array of 11,959 objects (the first with keys name, value)"),
    ({"status": "ok", "rows": 3, "owner": {"name": "x"}}, "a JSON object with keys status, rows, owner"),
])  # fmt: skip
def test_an_unknown_shape_is_described_once(tmp_path: Path, document: object, described: str) -> None:
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    with pytest.raises(IngestError) as error:
        ingest(Store(tmp_path / "h.duckdb"), [path], "x", progress=False)
    message = str(error.value)
    assert described in message and "not a format harness reads" in message
    assert "JSON Lines, one record per line" in message and "langfuse" in message and "inspect" in message


def test_gzip_bomb_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """A small .gz OTLP file expanding to 512 MiB on one line: set aside with its size (the rest of
    the file still read), in a child process whose peak memory stays far below the line's size."""
    bomb = tmp_path / "traces.json.gz"
    line = b'{"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [{"name": "' 
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(line)
        block = b"a" * (1 << 20)
        for _ in range(512):
            f.write(block)
        f.write(b'"}]}]}]}\n')
        f.write(json.dumps({"resourceSpans": []}).encode() + b"\n")
    assert bomb.stat().st_size < 3 << 20
    script = f"""
import hashlib
from pathlib import Path
from harness.capture import reader_for
path = Path({str(bomb)!r})
for batch in reader_for(path, "otel").read_group([path], {{path: hashlib.sha256()}}, 0):
    for bad in batch.malformed:
        print("MALFORMED", bad.line, bad.reason)
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would count the (large) test process that forked us
print("PEAK", next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    peak_kib = int(done.stdout.split("PEAK")[-1])
    assert "MALFORMED 1 line is 512.0 MiB, over the 32.0 MiB limit for one record" in done.stdout
    assert done.stdout.count("MALFORMED") == 1  # line 2 was read after it, and is fine
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"


def test_compare_names_the_variants_a_dataset_has(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    path = FIXTURES / "inspect" / "support.json"
    runner = CliRunner()
    done = runner.invoke(app, ["--db", str(db), "ingest", str(path), "--name", "runs", "--variant-from", "model"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["--db", str(db), "compare", "--dataset", "runs", "--candidate", "canary",
                               "--prod", "mockllm/model"], terminal_width=300)
    assert done.exit_code == 2
    text = " ".join(done.output.replace("│", " ").split())
    assert "no captured variant 'canary'" in text and "it has: mockllm/model" in text


def test_ingest_help_lists_every_format() -> None:
    done = CliRunner().invoke(app, ["ingest", "--help"], terminal_width=200)
    text = " ".join(done.output.split())
    for name in ("jsonl", "json", "csv", "parquet", "otel", "otel_sdk", "openinference", "phoenix", "openai_chat",
                 "openai_batch", "langfuse", "langsmith", "inspect", "inspect_ai", "--variant-from"):
        assert name in text, name


def test_an_integer_past_pythons_digit_limit_is_a_malformed_line(store: Store, tmp_path: Path) -> None:
    """Python refuses to read an integer of more than 4,300 digits with a ValueError, which took the
    whole ingest down; it is a malformed line like any other."""
    path = tmp_path / "runs.jsonl"
    run = {"id": "r-1", "run_type": "chain", "inputs": {"input": "q"}, "outputs": {"output": "a"},
           "start_time": "2026-11-16T10:00:00Z"}
    path.write_text(json.dumps(run) + "\n" + '{"id": "r-2", "run_type": "chain", "n": ' + "9" * 5000 + "}\n")
    summary = ingest(store, [path], "digits", fmt="langsmith", progress=False)
    assert (summary.n_requests, summary.n_quarantined) == (1, 1)
    assert store.quarantine("digits")["reason"].to_list() == ["invalid JSON: an integer with too many digits"]
