"""What readers and the store agree on: the canonical record's columns, and the record of a line
that could not become one (set aside in the quarantine with its file, line and reason).

Its own module so that readers (harness.capture) and the store (harness.store) share these
without depending on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CANONICAL_COLUMNS", "Malformed"]

#: Columns a reader may provide; only request_id and input are required.
CANONICAL_COLUMNS = (
    "request_id",
    "timestamp",
    "user_id",
    "session_id",
    "input",
    "metadata",
    "reference",
    "captured",
)


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line (or row) that could not become a request, and why."""

    source: str
    line: int | None
    reason: str
    raw: str | None = None
    raw_bytes: int | None = None
