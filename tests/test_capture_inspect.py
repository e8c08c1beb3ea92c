"""Inspect AI logs: a real `.eval` archive and a real `.json` log written by Inspect, through ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.capture import sniff
from harness.ingest import ingest
from harness.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "inspect"


def by_id(frame) -> dict:
    return {row["request_id"]: row for row in frame.iter_rows(named=True)}


@pytest.mark.parametrize("name", ["support.eval", "support.json"])
def test_inspect_log_samples_become_requests(store: Store, name: str) -> None:
    path = FIXTURES / name
    assert sniff(path) == "inspect"
    summary = ingest(store, [path], "insp", progress=False)
    assert store.dataset("insp")["format"] == "inspect"
    assert (summary.n_requests, summary.n_captured, summary.n_quarantined) == (2, 2, 0)

    requests = by_id(store.requests("insp"))
    assert set(requests) == {"order-status", "greeting"}
    order = requests["order-status"]
    assert order["input_text"] == "Where is my order 869021?"
    assert order["reference_output"] == "shipped"
    metadata = json.loads(order["metadata"])
    assert metadata == {"intent": "order_status", "task": "support", "task_version": 3, "epoch": 1,
                        "scores": {"includes": "C"}}

    document = _log(path)
    captured = by_id(store.captured("insp"))
    for sample_id, row in captured.items():
        sample = document[sample_id]
        assert row["variant"] == "prod"
        assert row["output"] == sample["output"]["completion"]
        assert row["model"] == "mockllm/model"
        usage = sample["model_usage"]["mockllm/model"]  # the whole sample's usage, not the last call's
        assert (row["input_tokens"], row["output_tokens"]) == (usage["input_tokens"], usage["output_tokens"])
        assert row["cached_input_tokens"] is None and row["cost_usd"] is None  # not stated: not invented
        assert row["latency_ms"] == pytest.approx(sample["total_time"] * 1000)
    order = captured["order-status"]
    assert (order["input_tokens"], order["output_tokens"]) == (280, 27)
    assert json.loads(order["tool_calls"]) == [
        {"name": "lookup_order", "arguments": {"order_id": "869021"}, "result": "order 869021: shipped"}]
    assert json.loads(captured["greeting"]["tool_calls"]) == []


def test_two_inspect_runs_are_variants_of_one_request(store: Store, tmp_path: Path) -> None:
    """The .eval and the .json are two runs of the same task: with --variant-from they pair up by
    sample id as two captured variants (here by run id, which differs between the two runs)."""
    summary = ingest(store, [FIXTURES / "support.eval", FIXTURES / "support.json"], "runs", progress=False,
                     variant_from="run_id")
    assert (summary.n_requests, summary.n_captured) == (2, 4)
    variants = set(store.captured("runs")["variant"].to_list())
    assert variants == {_spec(FIXTURES / "support.eval")["run_id"], _spec(FIXTURES / "support.json")["run_id"]}
    by_model = ingest(store, [FIXTURES / "support.json"], "model", progress=False, variant_from="task_version")
    assert by_model.n_requests == 2 and set(store.captured("model")["variant"].to_list()) == {"3"}


def _spec(path: Path) -> dict:
    """The eval spec of a log, read independently of the reader."""
    if path.suffix == ".json":
        return json.loads(path.read_text())["eval"]
    return _zip_member(path, "header.json")["eval"]


def _log(path: Path) -> dict:
    """The samples of a log by id, read independently of the reader."""
    if path.suffix == ".json":
        return {s["id"]: s for s in json.loads(path.read_text())["samples"]}
    import zipfile

    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.startswith("samples/")]
    samples = [_zip_member(path, name) for name in names]
    return {s["id"]: s for s in samples}


def _zip_member(path: Path, name: str) -> dict:
    import zipfile

    import zstandard

    with zipfile.ZipFile(path) as archive, open(path, "rb") as f:
        info = archive.getinfo(name)
        f.seek(info.header_offset + 26)
        name_length, extra = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
        f.seek(info.header_offset + 30 + name_length + extra)
        return json.loads(zstandard.ZstdDecompressor().decompress(f.read(info.compress_size),
                                                                  max_output_size=info.file_size))
