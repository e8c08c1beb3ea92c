"""Shared fixtures: a real DuckDB file per test and helpers to write captured logs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from harness.store import Store

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest_plugins = ["tests.demo_fixture",  # the session-wide demo database (demo_db)
                  "tests.type_checker",  # mypy, beside the suite
                  "tests.worker_groups"]  # which tests share a pytest-xdist worker


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "harness.duckdb")


def write_jsonl(path: Path, records: Iterable[dict[str, Any] | str]) -> Path:
    """One JSON object (or a raw string, for malformed lines) per line."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def simple_records(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [
        {"request_id": f"{prefix}{i}", "input": f"question number {i}", "user_id": f"u{i % 7}",
         "metadata": {"intent": "order_status" if i % 2 else "refund_request"}}
        for i in range(n)
    ]  # fmt: skip
