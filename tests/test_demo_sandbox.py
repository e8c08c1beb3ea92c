"""The demo through the tool sandbox: the payments service receives no refund, the store holds
every refund the agents intended, and with `live` the same service really is called."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from harness.config import load_config
from harness.demo.generator import generate_records
from harness.demo.payments import PaymentsService
from harness.demo.plans import plan_for
from harness.demo.run import DEMO_DATASET, write_demo_config
from harness.gates.side_effects import side_effect_checks
from harness.ingest import ingest
from harness.replay import replay
from harness.replay.plan import _request
from harness.store import Store, open_store
from tests.conftest import write_jsonl
from tests.demo_fixture import DEMO_REFUNDS_RECEIVED, demo_db  # noqa: F401


def small_demo(tmp_path: Path, payments: PaymentsService, live: bool = False) -> tuple[Store, str]:
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", generate_records(n_requests=150, n_users=40))],
           DEMO_DATASET, progress=False)
    path = write_demo_config(tmp_path / "harness.toml", payments.url)
    if live:
        text = path.read_text(encoding="utf-8").replace('policy = "block"                 # "live"', 'policy = "live" #')
        path.write_text(text, encoding="utf-8")
    config = load_config(path)
    config = config.model_copy(update={"migration": None})
    return store, replay(config, store=store, progress=False).run_id


def refund_events(store: Store, run_id: str) -> pl.DataFrame:
    return store.tool_events(run_id).filter(pl.col("tool") == "issue_refund")


def test_blocked_refunds_never_reach_the_payments_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_DEMO_LATENCY_SCALE", "0")
    with PaymentsService() as payments:
        store, run_id = small_demo(tmp_path, payments)
        assert payments.refunds == 0
    refunds = refund_events(store, run_id)
    assert refunds.height > 0 and refunds["blocked"].all() and (refunds["policy"] == "block").all()
    (check,) = side_effect_checks(store, run_id)
    assert check.status == "pass"


def test_the_same_tool_made_live_really_refunds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_DEMO_LATENCY_SCALE", "0")
    with PaymentsService() as payments:
        store, run_id = small_demo(tmp_path, payments, live=True)
        refunds = refund_events(store, run_id)
        assert payments.refunds == refunds.height > 0  # the counter is real: live calls reach it
    (check,) = side_effect_checks(store, run_id)
    assert check.status == "fail"  # a write tool live without allow_live_write


@pytest.mark.timeout(600)
def test_demo_store_holds_every_intended_refund(demo_db: Path) -> None:  # noqa: F811
    assert DEMO_REFUNDS_RECEIVED and set(DEMO_REFUNDS_RECEIVED) == {0}  # full demo replays: the service got nothing
    store = open_store(demo_db, read_only=True)
    run_id = store.runs()["run_id"][0]
    requests = store.sql("SELECT * FROM requests WHERE dataset = ?", [DEMO_DATASET])
    expected = {r["request_id"] for r in requests.iter_rows(named=True)
                if any(c["name"] == "issue_refund" for c in plan_for(_request(r, DEMO_DATASET)).tool_calls)}
    events = refund_events(store, run_id)
    prod = set(events.filter(pl.col("arm") == "prod")["request_id"])
    assert prod == expected and events["blocked"].all()
    candidate = set(events.filter(pl.col("arm") == "candidate")["request_id"])
    assert len(candidate) < 0.5 * len(expected)  # the candidate deflects most refunds
    findings = store.verdict(run_id)["findings"]
    assert any(f["tool"] == "issue_refund" and f["kind"] == "action_change" for f in findings)
