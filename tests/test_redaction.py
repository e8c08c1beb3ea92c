"""Redaction at ingest: typed placeholders everywhere text lives; ids pseudonymized; reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import RedactionConfig
from harness.errors import ConfigError
from harness.ingest import ingest
from harness.redaction import Redactor, luhn_valid
from harness.store import Store
from tests.conftest import write_jsonl
from tests.procs import run_harness

SECRET_RECORD = {
    "request_id": "r1", "user_id": "jane.doe@example.com", "session_id": "s-1",
    "input": {"messages": [{"role": "user", "content": "I'm jane.doe@example.com, call +44 20 7946 0958.\\nCard 4111 1111 1111 1111"}]},
    "metadata": {"ip": "203.0.113.7", "order": "1234", "tokens": 812},
    "reference": "We emailed jane.doe@example.com",
    "captured": {"variant": "prod", "output": "Refund sent to card 4111111111111111 for jane.doe@example.com",
                 "tool_calls": [{"name": "refund", "arguments": {"card": "4111-1111-1111-1111", "key": "sk-live-0123456789abcdefXYZ"}}],
                 "usage": {"input_tokens": 812, "output_tokens": 95}, "latency_ms": 1840,
                 "error": {"type": "agent_error", "message": "upstream rejected key AKIAABCDEFGHIJKLMNOP from 10.1.2.3"}},
}  # fmt: skip


def test_redaction_replaces_every_kind_in_every_text_field(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", [SECRET_RECORD, {"request_id": "r2", "input": "plain", "user_id": "u-7"},
                                              '{"request_id": "r3", "input": "mail bob@corp.io" BROKEN'])
    summary = ingest(store, [log], "safe", redact=RedactionConfig(), progress=False)
    everything = "\n".join(store.sql(f"SELECT * FROM {t}").write_csv() for t in ("requests", "captured", "quarantine"))
    for secret in ("jane.doe@example.com", "7946 0958", "4111", "203.0.113.7", "sk-live-", "AKIAABCD", "10.1.2.3",
                   "bob@corp.io"):
        assert secret not in everything, secret
    request = store.requests("safe").row(0, named=True)
    assert "[EMAIL]" in request["input_text"] and "[PHONE]" in request["input_text"] and "[CARD]" in request["input_text"]
    assert request["user_id"].startswith("anon-")
    assert json.loads(request["metadata"]) == {"ip": "[IP]", "order": "1234", "tokens": 812}
    captured = store.captured("safe").row(0, named=True)
    assert captured["output"] == "Refund sent to card [CARD] for [EMAIL]"
    assert json.loads(captured["tool_calls"])[0]["arguments"] == {"card": "[CARD]", "key": "[API_KEY]"}
    assert captured["error_message"] == "upstream rejected key [API_KEY] from [IP]"
    assert (captured["input_tokens"], captured["latency_ms"]) == (812, 1840)  # numbers untouched
    assert store.requests("safe").row(1, named=True)["user_id"] == "u-7"  # no PII: kept
    dataset = store.dataset("safe")
    assert dataset["redacted"] is True
    counts = json.loads(dataset["redaction"])["counts"]
    assert counts["email"] >= 4 and counts["card"] >= 3 and counts["pseudonymized_id"] == 1
    assert summary.redaction is not None and summary.n_quarantined == 1


def test_pseudonyms_are_stable_and_the_redacted_copy_is_a_different_dataset(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", [SECRET_RECORD, {**SECRET_RECORD, "request_id": "r9"}])
    ingest(store, [log], "safe", redact=RedactionConfig(), progress=False)
    users = store.requests("safe")["user_id"].unique().to_list()
    assert len(users) == 1 and users[0].startswith("anon-")
    plain = ingest(store, [log], "raw", progress=False)
    assert not plain.unchanged and store.dataset("raw")["redacted"] is False
    assert ingest(store, [log], "safe", redact=RedactionConfig(), progress=False).unchanged


def test_custom_patterns_kinds_and_luhn() -> None:
    redactor = Redactor(RedactionConfig(kinds=["email"], patterns={"EMPLOYEE": r"E\d{6}"}))
    assert redactor.text("E123456 wrote to a@b.io from 10.0.0.1") == "[EMPLOYEE] wrote to [EMAIL] from 10.0.0.1"
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    everything = Redactor(RedactionConfig())
    assert everything.text("order 12345678901234 at 2026-11-20 10:15:00") == "order 12345678901234 at 2026-11-20 10:15:00"
    with pytest.raises(ConfigError, match="redaction.patterns.BAD: not a valid regular expression"):
        from harness.config import parse_config

        parse_config({"redaction": {"patterns": {"BAD": "("}}})


def test_ingest_command_redacts_and_the_report_says_so(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    log = write_jsonl(tmp_path / "log.jsonl", [SECRET_RECORD])
    result = run_harness("ingest", str(log), "--name", "safe", "--redact", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert "redacted:" in result.stdout and "email" in result.stdout
    assert Store(db, read_only=True).dataset("safe")["redacted"] is True
