"""Shared by the readers that convert other log formats into canonical records.

A converter turns its format into canonical record dicts (the shape in datasets/README.md)
and calls `batch_from_records`; everything after that (validation, quarantine, loading) is
the same as for canonical JSON Lines. Missing values stay missing: never invent numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from harness.capture.base import BOM, RawBatch, open_source
from harness.errors import IngestError
from harness.store import CANONICAL_COLUMNS, Malformed

__all__ = ["batch_from_records", "iter_documents", "first_document", "Located"]

_NESTED = ("input", "metadata", "reference", "captured")
Located = tuple[int, Any]
"""A parsed document and its 1-based line (or position in a JSON array)."""


def batch_from_records(records: Iterable[tuple[int, dict[str, Any]]], source: str, seq_start: int,
                       malformed: list[Malformed] | None = None) -> RawBatch:
    """A RawBatch of canonical columns from (line, record) pairs: strings stay strings, nested
    values become JSON text, exactly what the JSON Lines reader would have produced."""
    rows: dict[str, list[Any]] = {c: [] for c in CANONICAL_COLUMNS}
    lines: list[int] = []
    for line, record in records:
        for column in CANONICAL_COLUMNS:
            value = record.get(column)
            if value is not None and not isinstance(value, str) and (column in _NESTED or column == "timestamp"):
                value = json.dumps(value, ensure_ascii=False, default=str) if column in _NESTED else str(value)
            elif value is not None and not isinstance(value, str):
                value = str(value)
            rows[column].append(value)
        lines.append(line)
    frame = pl.DataFrame(rows, schema={c: pl.String for c in CANONICAL_COLUMNS}).with_columns(
        pl.Series("_line", lines, dtype=pl.Int64),
        pl.int_range(seq_start, seq_start + len(lines), dtype=pl.Int64).alias("_seq"),
    )
    return RawBatch(frame, source, malformed or [], trusted_json=True)


def iter_documents(path: Path, hasher: Any = None) -> Iterator[tuple[int, Any, str | None]]:
    """(line, document, error) for each JSON document in a JSON Lines file, a JSON array, or one
    JSON object holding a list (under "data", "traces", "runs", "observations" or "items").
    A line that is not JSON yields (line, None, reason) so the caller can quarantine it."""
    with open_source(path, hasher) as stream:
        data = stream.read().removeprefix(BOM)
    text = data.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{") and "\ufffd" in text and "\n{" not in stripped.rstrip():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IngestError(f"{path}: invalid UTF-8 at byte {exc.start}") from None
    if stripped.startswith("["):
        whole = _whole(text)
        if isinstance(whole, list):
            for i, doc in enumerate(whole, start=1):
                yield i, doc, None
            return
    if stripped.startswith("{") and "\n{" not in stripped.rstrip():
        whole = _whole(text)
        if isinstance(whole, dict):
            items = _listed_items(whole)
            for i, doc in enumerate(items if items is not None else [whole], start=1):
                yield i, doc, None
            return
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, None, f"invalid UTF-8 at byte {exc.start}"
            continue
        try:
            yield number, json.loads(line), None
        except json.JSONDecodeError as exc:
            yield number, None, f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"


def first_document(head: bytes) -> Any:
    """The first JSON document in the first bytes of a file (for sniffing), or None.

    A JSON Lines file gives its first line; a JSON array its first element; an object holding a
    list of items (see iter_documents) its first item.
    """
    text = head.removeprefix(BOM).decode("utf-8", errors="replace").lstrip()
    decoder = json.JSONDecoder()
    try:
        if text.startswith("["):
            doc, _ = decoder.raw_decode(text, len(text) - len(text[1:].lstrip()))
            return doc
        if text.startswith("{"):
            line = text.split("\n", 1)[0]
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                doc, _ = decoder.raw_decode(text)
            items = _listed_items(doc) if isinstance(doc, dict) else None
            return items[0] if items else doc
    except json.JSONDecodeError:
        return None
    return None


def _listed_items(document: dict[str, Any]) -> list[Any] | None:
    """The items of an export that wraps them ({"data": [...]}, ...): only for an envelope without
    an id of its own whose list holds objects, so a trace with an `observations` list stays whole."""
    if "id" in document:
        return None
    for key in ("data", "traces", "runs", "observations", "items"):
        items = document.get(key)
        if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
            return items
    return None


def _whole(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
