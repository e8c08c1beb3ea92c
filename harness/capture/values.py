"""Value helpers shared by the readers that convert other log formats (OpenAI, Langfuse,
LangSmith): ids, numbers, times and batching, all keeping missing values missing."""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from harness.canonical import Malformed
from harness.capture.base import RawBatch
from harness.capture.convert import batch_from_records

__all__ = [
    "BATCH_ROWS",
    "Converted",
    "Item",
    "batches",
    "collector_paused",
    "count",
    "decoded",
    "first",
    "identifier",
    "malformed",
    "mapping",
    "merged_variants",
    "number",
    "parse_time",
    "summed",
    "timestamp",
    "variant_value",
    "with_variant",
]

BATCH_ROWS = 5_000
"""Most items (records plus malformed lines) in one batch."""

Converted = tuple[str, int, dict[str, Any]]
"""A canonical record with the file and line it came from."""
Item = Converted | Malformed


def batches(items: Iterable[Item], seq_start: int) -> Iterator[RawBatch]:
    """RawBatches of at most BATCH_ROWS items, each from one file, rows numbered from seq_start
    (a malformed item takes a number too, as ingest counts it)."""
    records: list[tuple[int, dict[str, Any]]] = []
    bad: list[Malformed] = []
    source: str | None = None
    seq = seq_start
    for item in items:
        item_source = item.source if isinstance(item, Malformed) else item[0]
        if source is not None and (item_source != source or len(records) + len(bad) >= BATCH_ROWS):
            yield batch_from_records(records, source, seq, bad)
            seq += len(records) + len(bad)
            records, bad = [], []
        source = item_source
        if isinstance(item, Malformed):
            bad.append(item)
        else:
            records.append((item[1], item[2]))
    if source is not None:
        yield batch_from_records(records, source, seq, bad)


def malformed(source: str, line: int, reason: str, document: Any) -> Malformed:
    """A document that cannot become a request, kept with its JSON text."""
    return Malformed(source, line, reason, json.dumps(document, ensure_ascii=False, default=str))


def identifier(value: Any) -> str | None:
    """An id as text: strings as they are, numbers as their digits; an object or a list stays JSON,
    so that validation rejects it instead of accepting its Python repr."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def number(value: Any) -> float | int | None:
    """A finite number from a number or numeric text; anything else is missing."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def count(value: Any) -> int | None:
    """A whole number (a token count, a status code, nanoseconds), or missing. Digit strings are
    read exactly, not through a float (OTLP sends 64-bit integers as strings)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    value = number(value)
    return int(value) if value is not None and float(value).is_integer() else None


def first(*values: Any) -> Any:
    """The first value that is not None (so a stated 0 or "" wins over a later one)."""
    return next((v for v in values if v is not None), None)


def summed(values: Iterable[float | int | None]) -> float | int | None:
    """The sum of the values that are stated, or None when none is (never a made-up 0)."""
    stated = [v for v in values if v is not None]
    return sum(stated) if stated else None


def decoded(value: Any) -> Any:
    """JSON text of an object or a list decoded; anything else (invalid JSON too, or JSON Python's
    parser refuses: nested too deeply, an integer past its digit limit) as it is."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time or epoch seconds (milliseconds when large) as an aware datetime; a time
    without an offset is taken as UTC."""
    seconds = number(value) if not isinstance(value, str) else None
    if seconds is not None:
        try:
            return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def timestamp(value: Any) -> Any:
    """A time (see parse_time) as ISO 8601 in UTC with a `Z`; anything else as it is, for
    validation to report."""
    moment = parse_time(value)
    return value if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def mapping(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}



def variant_value(attributes: dict[str, Any], key: str) -> str:
    """The variant named by `key` in a record's attributes (`--variant-from`): the value of the key
    (a dotted key as it is, else as a path into nested objects; a list is joined with commas), or
    for `tag:NAME` the rest of the first tag `NAME:value` / `NAME=value`. Missing: `<no KEY>`, so
    such records stay visible as a variant of their own instead of passing for another."""
    if key.startswith("tag:"):
        name = key[4:]
        tags = attributes.get("tags")
        for tag in tags if isinstance(tags, list) else []:
            text = str(tag)
            for separator in (":", "="):
                if text.startswith(name + separator) and len(text) > len(name) + 1:
                    return text[len(name) + 1:]
        return f"<no {key}>"
    value = attributes.get(key)
    if value is None and "." in key:
        value = attributes
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        value = ",".join(str(v) for v in value) or None
    if isinstance(value, dict) or value is None or value == "":
        return f"<no {key}>"
    return identifier(value) or f"<no {key}>"


def with_variant(record: dict[str, Any], variant: str) -> dict[str, Any]:
    """The record with its captured answer labelled `variant`."""
    captured = record.get("captured")
    if isinstance(captured, dict):
        record["captured"] = {**captured, "variant": variant}
    return record


def merged_variants(items: list[Item]) -> list[Item]:
    """Records of one request_id with different captured variants joined into one record whose
    `captured` lists them all (at the place of the first); the same variant twice is left for
    ingest's duplicate check to name."""
    first: dict[Any, dict[str, Any]] = {}
    out: list[Item] = []
    for item in items:
        if isinstance(item, Malformed):
            out.append(item)
            continue
        record = item[2]
        earlier = first.get(record.get("request_id"))
        captured = record.get("captured")
        if earlier is not None and isinstance(captured, dict):
            given = earlier["captured"] if isinstance(earlier.get("captured"), list) else [earlier.get("captured")]
            present = [c for c in given if isinstance(c, dict)]
            if all(c.get("variant") != captured.get("variant") for c in present):
                earlier["captured"] = [*present, captured]
                continue
        first.setdefault(record.get("request_id"), record)
        out.append(item)
    return out


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a reader gathers a whole group (spans by
    trace, LangSmith runs by trace): every pass would walk all the objects held so far and find
    nothing to free (parsed JSON holds no cycles). Measured, the passes cost a sixth of an
    OpenInference ingest and half of a LangSmith one. It runs again afterwards, if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
