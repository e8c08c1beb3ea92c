"""Helpers for the tests that a converted format's SQL path stores exactly what its Python reader
stores (harness.ingest_converted): ingest both ways, and count the rows the SQL converted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import harness.ingest
import harness.ingest_converted
from harness.ingest import ingest
from harness.store import Store


def stored(store: Store, name: str) -> dict[str, list[dict[str, Any]]]:
    """The dataset's rows with JSON columns parsed (the two paths may space JSON text differently)."""
    def rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
        return [{k: json.loads(v) if k in ("input", "metadata", "reference", "tool_calls") and v is not None else v
                 for k, v in row.items()} for row in frame.iter_rows(named=True)]
    quarantine = store.quarantine(name).drop("ingested_at")
    return {"requests": rows(store.requests(name)), "captured": rows(store.captured(name)),
            "quarantine": rows(quarantine)}


def both_ways(store: Store, paths: list[Path], fmt: str, monkeypatch: pytest.MonkeyPatch,
              suffix: str = "") -> tuple[Any, Any]:
    """The paths ingested through the SQL path, then through the Python reader alone (as datasets
    `fast` and `slow`, each name followed by `suffix`)."""
    fast = ingest(store, paths, "fast" + suffix, fmt=fmt, progress=False)
    with monkeypatch.context() as patch:
        patch.setattr(harness.ingest, "sql_converter", lambda reader, paths: None)
        slow = ingest(store, paths, "slow" + suffix, fmt=fmt, progress=False)
    assert (fast.n_requests, fast.n_captured, fast.n_quarantined) == (slow.n_requests, slow.n_captured,
                                                                      slow.n_quarantined)
    return stored(store, "fast" + suffix), stored(store, "slow" + suffix)


def converted_in_sql(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows the SQL converts in each block, recorded as the ingest runs."""
    counts: list[int] = []
    insert = harness.ingest_converted.insert_converted

    def counting(writer: Any, staged: Any, seqs: Any, n_rows: int, **kwargs: Any) -> None:
        counts.append(sum(staged.column("_simple").to_pylist()))
        insert(writer, staged, seqs, n_rows, **kwargs)
    monkeypatch.setattr(harness.ingest_converted, "insert_converted", counting)
    return counts


def copies_with_own_ids(text: str, ids: str, copies: int) -> str:
    """`copies` copies of the lines `text`, each copy's ids its own: the copy's number follows what
    the pattern `ids` matches (the start of every id)."""
    return "\n".join(re.sub(ids, lambda m, k=k: f"{m.group(0)}{k:05d}", text) for k in range(copies)) + "\n"
