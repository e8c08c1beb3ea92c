"""Canonical records in one JSON document: a JSON array of records, or `{"data": [...]}`.

What users export by hand is often a JSON array rather than JSON Lines; it is read element by
element in bounded memory (harness.capture.documents) and each element is taken as the canonical
record it is. Everything after that (validation, quarantine, loading) is the same as for JSON Lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.canonical import Malformed
from harness.capture.base import RawBatch
from harness.capture.documents import iter_documents
from harness.capture.values import Item, batches, malformed

__all__ = ["JsonRecordsReader"]


class JsonRecordsReader:
    """A JSON array (or envelope) of canonical records; one request per element."""

    name = "json"

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]:
        return batches((item for path in paths for item in _records(path, hashers[path])), seq_start)


def _records(path: Path, hasher: Any) -> Iterator[Item]:
    source = str(path)
    for position, document, error in iter_documents(path, hasher):
        if error is not None:
            yield Malformed(source, position, error)
        elif not isinstance(document, dict):
            yield malformed(source, position, f"element {position} is not a JSON object", document)
        else:
            yield source, position, document
