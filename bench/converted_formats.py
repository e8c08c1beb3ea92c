"""Converted log formats at scale: each test fixture copied until the file holds about N MB, every
id in it made unique per copy, then ingested (bench/ingest_scale.py measures each in a fresh
process). Langfuse traces and OpenAI chat logs as JSON Lines have a SQL path
(harness.ingest_converted over harness.store.langfuse_sql and openai_chat_sql: the lines the SQL
leaves, such as the fixtures' deliberately malformed ones, still go through Python); OTel,
OpenInference and LangSmith are converted record by record in Python, and their MB/s is printed as it is.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
FORMATS = {  # format: (fixture, the keys whose string values are ids)
    "otel": (FIXTURES / "otel" / "traces.json", ("traceId", "spanId", "parentSpanId")),
    "openinference": (FIXTURES / "openinference" / "phoenix-spans.jsonl", ("id", "trace_id", "span_id", "parent_id")),
    "langsmith": (FIXTURES / "langsmith" / "runs.jsonl", ("id", "trace_id", "parent_run_id")),
    "openai_chat": (FIXTURES / "openai_chat" / "gateway.jsonl", ("id", "request_id")),
}
_HEX = re.compile(r"[0-9a-fA-F-]{16,}")


def _ids(document: Any, keys: tuple[str, ...], found: set[str]) -> set[str]:
    """Every string under one of `keys`, anywhere in the document."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key in keys and isinstance(value, str) and value:
                found.add(value)
            _ids(value, keys, found)
    elif isinstance(document, list):
        for value in document:
            _ids(value, keys, found)
    return found


def _renamed(identifier: str, copy: int) -> str:
    """The id in copy `copy`: hex ids stay hex of the same length (their last 8 digits replaced by a
    hash of the id and the copy, so no two ids of any copies meet), others get `-copy` appended."""
    if _HEX.fullmatch(identifier) and identifier[-8:].isalnum():
        return identifier[:-8] + hashlib.blake2b(f"{identifier}/{copy}".encode(), digest_size=4).hexdigest()
    return f"{identifier}-{copy}"


def write_copies(fmt: str, path: Path, megabytes: float) -> tuple[Path, int]:
    """About `megabytes` of `fmt`'s fixture lines (the lines that parse), ids unique per copy; the
    number of lines written."""
    fixture, keys = FORMATS[fmt]
    lines = []
    for line in fixture.read_text(encoding="utf-8").splitlines():
        try:
            ids = sorted(_ids(json.loads(line), keys, set()), key=len, reverse=True)
            lines.append((line, re.compile('"(' + "|".join(map(re.escape, ids)) + ')"') if ids else None))
        except json.JSONDecodeError:  # fixtures hold broken lines on purpose
            continue
    numeric = re.compile("(" + "|".join(f'"{key}": ?' for key in keys) + r")(-?\d+)\b(?![.\d])")
    written, n, copy = 0, 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < megabytes * 1e6:
            for line, pattern in lines:
                if pattern is not None:
                    line = pattern.sub(lambda m, k=copy: '"' + _renamed(m.group(1), k) + '"', line)
                line = numeric.sub(lambda m, k=copy: f'{m.group(1)}"{m.group(2)}-{k}"', line)  # numeric ids as text
                f.write(line + "\n")
                written += len(line.encode()) + 1
                n += 1
            copy += 1
    return path, n
