"""Ingest: captured logs -> one immutable dataset in the store.

Malformed lines are set aside in the quarantine with file, line and reason; `strict`
turns any of them into a failed ingest that writes nothing. Rows are committed block by block
(bounded memory at any size) and the dataset becomes visible only when complete; a failed or
killed ingest leaves nothing visible, and rerunning it starts again from a clean slate.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.capture import RawBatch, group_by_reader
from harness.capture.langsmith import LangSmithReader
from harness.capture.spans import TraceReader
from harness.config import RedactionConfig
from harness.errors import IngestError
from harness.ingest_bulk import Report, load_jsonl
from harness.ingest_converted import load_converted, sql_converter
from harness.names import check_dataset_name
from harness.prefetch import prefetched
from harness.progress import progress_bar
from harness.redaction import Redactor
from harness.store import DatasetSummary, DatasetWriter, Store
from harness.store.spill import Spill

__all__ = ["ingest"]


def ingest(
    store: Store,
    paths: Sequence[str | Path],
    name: str,
    *,
    fmt: str = "auto",
    strict: bool = False,
    replace: bool = False,
    redact: RedactionConfig | None = None,
    progress: bool = True,
    variant_from: str | None = None,
) -> DatasetSummary:
    """Read captured logs into dataset `name`; returns counts and the first malformed lines.

    With `redact`, PII and secrets are replaced with typed placeholders before anything is stored.
    With `variant_from`, the converting readers take each record's captured variant from that
    attribute of the trace (see harness.capture.values.variant_value) instead of `prod`.
    """
    check_dataset_name(name)
    files = [Path(p) for p in paths]
    if not files:
        raise IngestError("no input files given")
    for path in files:
        if not path.is_file():
            raise IngestError(f"{path}: no such file")
    groups = group_by_reader(files, fmt, variant_from)
    formats = sorted({getattr(reader, "group", reader.name) for reader, _ in groups})
    if variant_from is not None:  # the same bytes read with other variants are other content
        formats.append("variant-from:" + variant_from)
    redactor = Redactor(redact) if redact is not None else None
    if redact is not None:  # the same bytes redacted differently are different content
        formats.append("redacted:" + redact.model_dump_json())
    with store.dataset_writer(name, replace=replace) as writer:
        if writer.existing_hash is not None and not replace:
            digests = {path: _file_hash(path) for path in files}
            if writer.check_existing(_combined(files, digests, formats)):
                return writer.summary
        hashers = {path: hashlib.sha256() for path in files}
        writer.begin()
        try:
            with progress_bar(progress) as bar:
                report = Report(writer, bar if progress else None, len(files))
                _load(writer, groups, hashers, redactor, report)
                report.close()
            digests = {path: hasher.hexdigest() for path, hasher in hashers.items()}
            summary = writer.finish(
                content_hash=_combined(files, digests, formats),
                fmt="+".join(f for f in formats if ":" not in f),
                sources=[str(p) for p in files],
                strict=strict,
                redaction=redactor.describe() if redactor is not None else None,
            )
            summary.redaction = redactor.describe() if redactor is not None else None
            return summary
        except BaseException:
            with contextlib.suppress(Exception):  # a failed clean-up must not hide why the ingest failed
                writer.abort()
            raise


def _load(writer: DatasetWriter, groups: list[tuple[Any, list[Path]]], hashers: dict[Path, Any],
          redactor: Redactor | None, report: Report) -> None:
    """Every group's batches into the writer, committing block by block. Canonical JSON Lines, and
    the converted formats harness.ingest_converted takes, go through DuckDB unless redaction (done in
    Python) is on."""
    seq = 0
    for reader, paths in groups:
        if reader.name == "jsonl" and redactor is None:
            seq = load_jsonl(writer, reader, paths, hashers, seq, report)
            continue
        if redactor is None and (converter := sql_converter(reader, paths)) is not None:
            seq = load_converted(writer, converter, paths, hashers, seq, report)
            continue
        if reader.name == "jsonl":
            report.say("redaction runs in Python: JSON Lines are read by the Python reader, not DuckDB's")
        if isinstance(reader, TraceReader | LangSmithReader):
            reader.spill = Spill  # a large group's spans or runs wait on disk
        for batch in prefetched(reader.read_group(paths, hashers, seq)):
            if redactor is not None:
                batch = _redacted(batch, redactor)
            if batch.frame.height:
                writer.add_batch(batch.frame, batch.source, trusted_json=batch.trusted_json)
                seq = max(seq, int(batch.frame["_seq"].max()) + 1)  # type: ignore[arg-type]
            writer.add_malformed(batch.malformed)
            seq += len(batch.malformed)
            report.block(batch.source)


def _redacted(batch: RawBatch, redactor: Redactor) -> RawBatch:
    """The batch with its text columns and its malformed lines' raw text redacted."""
    malformed = [dataclasses.replace(m, raw=None if m.raw is None else redactor.text(m.raw))
                 for m in batch.malformed]
    return RawBatch(redactor.frame(batch.frame), batch.source, malformed, batch.trusted_json)


def _file_hash(path: Path) -> str:
    """The digest a reader computes while reading: every byte of the file."""
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _combined(files: list[Path], digests: dict[Path, str], formats: list[str]) -> str:
    """The dataset's content identity: its files' digests in the order given, and how they were read."""
    return hashlib.sha256("\n".join([*(digests[p] for p in files), *formats]).encode()).hexdigest()
