"""A span or LangSmith run group over the spill threshold gathers its spans or runs on disk
(harness.store.Spill) and stores exactly what gathering them in memory stores: the same requests,
captured rows and quarantine."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

import harness.ingest
import harness.store.spill as spill_module
from harness.ingest import ingest
from harness.store import Store
from harness.store.spill import KEYS_PER_PART, Spill
from tests.converted_paths import copies_with_own_ids, stored

FIXTURES = Path(__file__).parent / "fixtures"
GROUPS = {
    "otel across two files": ("otel", [FIXTURES / "otel" / "traces.json", FIXTURES / "otel" / "traces-2.json"]),
    "openinference spans": ("openinference", [FIXTURES / "openinference" / "phoenix-spans.jsonl"]),
    "openinference otlp": ("openinference", [FIXTURES / "openinference" / "phoenix-otlp.json"]),
    "otel sdk": ("otel_sdk", [FIXTURES / "otel_sdk" / "spans.json"]),
    "langsmith runs": ("langsmith", [FIXTURES / "langsmith" / "runs.jsonl"]),
    "langsmith sdk payloads across two files": ("langsmith", [FIXTURES / "langsmith" / "sdk_batch_py.json",
                                                              FIXTURES / "langsmith" / "sdk_batch_js.json"]),
}


def in_memory_and_spilled(store: Store, paths: list[Path], fmt: str, monkeypatch: pytest.MonkeyPatch
                          ) -> tuple[dict, dict]:
    """The group ingested with its spans gathered in memory, then through a spill (threshold 0);
    only the second opens one."""
    opened: list[Spill] = []

    def counted() -> Spill:
        opened.append(Spill())
        return opened[-1]

    monkeypatch.setattr(harness.ingest, "Spill", counted)
    memory = ingest(store, paths, "memory", fmt=fmt, progress=False)
    assert not opened
    with monkeypatch.context() as patch:
        patch.setenv("HARNESS_SPILL_MB", "0")
        spilled = ingest(store, paths, "spilled", fmt=fmt, progress=False)
    assert len(opened) == 1
    assert (memory.n_requests, memory.n_captured, memory.n_quarantined) == (
        spilled.n_requests, spilled.n_captured, spilled.n_quarantined)
    return stored(store, "memory"), stored(store, "spilled")


@pytest.mark.parametrize("group", list(GROUPS))
def test_a_spilled_group_stores_what_a_group_in_memory_stores(group: str, store: Store,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fmt, paths = GROUPS[group]
    memory, spilled = in_memory_and_spilled(store, paths, fmt, monkeypatch)
    assert memory == spilled and memory["requests"]


def test_many_traces_over_several_parts_and_no_scratch_left(store: Store, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies of the OTel fixture with trace ids of their own: more traces than one part of the
    spill holds, traces spread over lines, unreadable traces among them."""
    text = (FIXTURES / "otel" / "traces.json").read_text(encoding="utf-8").strip()
    copies = 1 + 2 * KEYS_PER_PART // len(set(re.findall(r'"traceId":"(\w+)"', text)))
    path = tmp_path / "copies.jsonl"
    path.write_text(copies_with_own_ids(text, r'"traceId":"0*', copies), encoding="utf-8")
    mine = f"harness-spill-{os.getpid()}-*"  # this process's spills (tests in parallel have their own)
    before = set(Path(tempfile.gettempdir()).glob(mine))
    memory, spilled = in_memory_and_spilled(store, [path], "otel", monkeypatch)
    assert memory == spilled and len(memory["requests"]) > KEYS_PER_PART
    assert set(Path(tempfile.gettempdir()).glob(mine)) == before


def test_many_langsmith_traces_and_runs_that_make_none(store: Store, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies of the LangSmith fixture with ids of their own (more runs than the spill hands over
    at once), after a file of runs that make no request: a trace without its root, a child whose
    trace is unknown, a run repeated, a completion, and a root whose children come before it."""
    odd = tmp_path / "odd.jsonl"
    odd.write_text("\n".join(json.dumps(run) for run in [
        {"id": "c1", "trace_id": "t1", "parent_run_id": "r1", "run_type": "tool", "name": "lookup",
         "start_time": "2026-11-16T09:00:02", "inputs": {"q": 1}, "outputs": {"output": "found"}},
        {"id": "lost", "parent_run_id": "nobody", "run_type": "tool", "inputs": {}},
        {"id": "orphan", "trace_id": "t9", "parent_run_id": "gone", "run_type": "llm", "inputs": {}},
        {"id": "r1", "trace_id": "t1", "run_type": "chain", "start_time": "2026-11-16T09:00:00",
         "inputs": {"input": "where is my order?"}, "end_time": None},
        {"id": "r1", "end_time": "2026-11-16T09:00:03", "outputs": {"output": "on its way"}},
        {"id": "r1", "run_type": "chain", "inputs": {"input": "again"}},
        "not json",
    ]) + "\n", encoding="utf-8")
    text = (FIXTURES / "langsmith" / "runs.jsonl").read_text(encoding="utf-8").strip()
    copies = 1 + 6_000 // len(text.splitlines())
    many = tmp_path / "many.jsonl"
    many.write_text(copies_with_own_ids(text, r'"1ef5a3c0-', copies), encoding="utf-8")
    memory, spilled = in_memory_and_spilled(store, [odd, many], "langsmith", monkeypatch)
    assert memory == spilled and len(memory["requests"]) > copies
    assert {row["line"] for row in memory["quarantine"] if row["source"] == str(odd)} == {2, 3, 6, 7}
    assert memory["requests"][0]["request_id"] == "r1"
    assert [row["output"] for row in memory["captured"] if row["request_id"] == "r1"] == ["on its way"]


@pytest.mark.parametrize("bucket_bytes", [spill_module.BUCKET_BYTES, 1_000])
def test_a_spill_regroups_keys_in_the_groups_the_caller_makes(bucket_bytes: int, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """In one bucket, and in many (each group whole in one, though larger than a bucket's bytes)."""
    monkeypatch.setattr(spill_module, "BUCKET_BYTES", bucket_bytes)
    spill = Spill()
    try:
        puts = [(f"k{(i * 7) % 3_000}", str(i).encode()) for i in range(12_000)]
        for key, value in puts:
            spill.put(key, value)
        groups = {f"k{n}": (n * 13) % 500 for n in range(3_000) if n % 10}  # every tenth key in no group
        values: dict[str, list[bytes]] = {}
        for key, value in puts:
            values.setdefault(key, []).append(value)
        order = list(dict.fromkeys(key for key, _ in puts))
        expected = [(group, {key: values[key] for key in order if groups.get(key) == group})
                    for group in sorted(set(groups.values()))]
        assert list(spill.regrouped(groups.items())) == expected
    finally:
        spill.close()


def test_a_spill_gives_keys_in_first_put_order_and_values_in_put_order() -> None:
    spill = Spill()
    try:
        puts = [(f"k{(i * 7) % (3 * KEYS_PER_PART)}", str(i).encode()) for i in range(9 * KEYS_PER_PART)]
        for key, value in puts:
            spill.put(key, value)
        expected: dict[str, list[bytes]] = {}
        for key, value in puts:
            expected.setdefault(key, []).append(value)
        assert list(spill.groups()) == list(expected.items())
    finally:
        spill.close()


def test_a_new_spill_removes_those_of_killed_processes() -> None:
    """A killed ingest cannot remove its spill (gigabytes, for a large group): the next one does."""
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    left = Path(tempfile.mkdtemp(prefix=f"harness-spill-{gone}-"))
    (left / "spill.duckdb").write_bytes(b"left by a killed ingest")
    mine = Path(tempfile.mkdtemp(prefix=f"harness-spill-{os.getpid()}-"))  # a live process's stays
    try:
        Spill().close()
        assert not left.exists() and mine.exists()
    finally:
        shutil.rmtree(mine, ignore_errors=True)
        shutil.rmtree(left, ignore_errors=True)
