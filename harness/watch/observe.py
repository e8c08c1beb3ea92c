"""Lines of a canary log -> observations: one row per request and arm (prod or canary).

Each chunk of new lines is read by the reader `harness ingest` would pick for it (canonical
JSON Lines, OTel spans, ...). A captured answer goes to an arm by its variant; one without a
variant goes by the canary plan's stable user hash (sha256 of "salt:user_id" below the step's
share of users is canary). Lines no reader accepts are counted and named, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from harness.errors import HarnessError
from harness.stats import stable_fraction
from harness.watch.tail import Chunk

__all__ = ["Assignment", "Observed", "observe", "OBSERVATION_SCHEMA"]

OBSERVATION_SCHEMA: dict[str, Any] = {"request_id": pl.String, "arm": pl.String, "seq": pl.Int64, "user_id": pl.String,
                      "timestamp": pl.Datetime("us", "UTC"), "error": pl.Float64, "latency_ms": pl.Float64,
                      "cost_usd": pl.Float64, "tool_calls": pl.Float64, "source": pl.String}


@dataclass(frozen=True)
class Assignment:
    """How an answer finds its arm: by captured variant, else by the user hash of the canary plan."""

    canary_variant: str = "canary"
    prod_variant: str = "prod"
    step_percent: float | None = None
    salt: str = "canary"

    def arm(self, variant: str | None, user_id: str | None) -> str | None:
        if variant == self.canary_variant:
            return "canary"
        if variant == self.prod_variant:
            return "prod"
        if variant is None and user_id is not None and self.step_percent is not None:
            return "canary" if stable_fraction(user_id, self.salt) < self.step_percent / 100 else "prod"
        return None


@dataclass
class Observed:
    rows: pl.DataFrame
    problems: list[str] = field(default_factory=list)
    unassigned: int = 0


def observe(chunks: list[Chunk], assignment: Assignment, seq_start: int, fmt: str = "auto") -> Observed:
    """Observations of the new lines, numbered from seq_start in the order they were read."""
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    unassigned = 0
    for chunk in chunks:
        if not chunk.data.strip():
            continue
        try:
            frame, malformed = _read(chunk, fmt)
        except (HarnessError, OSError, ValueError) as exc:
            problems.append(f"{chunk.path}: {exc}")
            continue
        if malformed:
            problems.append(f"{chunk.path}: {malformed} lines could not be read (left out)")
        for record in frame.iter_rows(named=True):
            for answer in _answers(record["captured"]):
                arm = assignment.arm(answer.get("variant"), record["user_id"])
                if arm is None:
                    unassigned += 1
                    continue
                rows.append(_row(record, answer, arm, seq_start + len(rows), chunk.path))
    return Observed(pl.DataFrame(rows, schema=OBSERVATION_SCHEMA), problems, unassigned)


def _read(chunk: Chunk, fmt: str) -> tuple[pl.DataFrame, int]:
    """The chunk's records through the ingest readers (they read files: a temporary one)."""
    from harness.capture import reader_for

    suffix = Path(chunk.path).suffix or ".jsonl"
    with tempfile.TemporaryDirectory(prefix="harness-watch-") as tmp:
        path = Path(tmp) / f"chunk{suffix}"
        path.write_bytes(chunk.data)
        reader = reader_for(path, fmt)
        batches = list(reader.read_group([path], {path: hashlib.sha256()}, 0))
    frames = [b.frame.select("request_id", "timestamp", "user_id", "captured") for b in batches if b.frame.height]
    malformed = sum(len(b.malformed) for b in batches)
    if not frames:
        return pl.DataFrame(schema={"request_id": pl.String, "timestamp": pl.String, "user_id": pl.String,
                                    "captured": pl.String}), malformed
    return pl.concat([f.with_columns(pl.all().cast(pl.String)) for f in frames]), malformed


def _answers(captured: str | None) -> list[dict[str, Any]]:
    if not captured:
        return []
    value = json.loads(captured)
    items = value if isinstance(value, list) else [value]
    return [a for a in items if isinstance(a, dict)]


def _row(record: dict[str, Any], answer: dict[str, Any], arm: str, seq: int, source: str) -> dict[str, Any]:
    error = answer.get("error") not in (None, "", False)
    calls = answer.get("tool_calls")
    return {"request_id": str(record["request_id"]), "arm": arm, "seq": seq, "user_id": record["user_id"],
            "timestamp": _timestamp(record["timestamp"]), "error": 1.0 if error else 0.0,
            "latency_ms": None if error else _number(answer.get("latency_ms")),
            "cost_usd": None if error else _number(answer.get("cost_usd"), positive=True),
            "tool_calls": float(len(calls)) if isinstance(calls, list) else 0.0, "source": source}


def _number(value: Any, positive: bool = False) -> float | None:
    """A finite nonnegative number (positive for a cost: 0 is unknown, not free), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return None if positive and value == 0 else float(value)


def _timestamp(value: str | None) -> datetime | None:
    """An ISO 8601 time (naive means UTC), else None: durations then rest on the other records."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
