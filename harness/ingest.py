"""Ingest: captured logs -> one immutable dataset in the store.

Malformed lines are set aside in the quarantine with file, line and reason; `strict`
turns any of them into a failed ingest that writes nothing. All of it is one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from harness.capture import reader_for
from harness.errors import IngestError
from harness.progress import progress_bar
from harness.store import DatasetSummary, Store

__all__ = ["ingest"]


def ingest(
    store: Store,
    paths: Sequence[str | Path],
    name: str,
    *,
    fmt: str = "auto",
    strict: bool = False,
    replace: bool = False,
    progress: bool = True,
) -> DatasetSummary:
    """Read captured logs into dataset `name`; returns counts and the first malformed lines."""
    files = [Path(p) for p in paths]
    if not files:
        raise IngestError("no input files given")
    for path in files:
        if not path.is_file():
            raise IngestError(f"{path}: no such file")
    readers = [(path, reader_for(path, fmt)) for path in files]
    formats = sorted({r.name for _, r in readers})
    with store.dataset_writer(name, replace=replace) as writer:
        if writer.existing_hash is not None and not replace:
            if writer.check_existing(_content_hash(files)):
                return writer.summary
        hasher = hashlib.sha256()
        writer.begin()
        try:
            with progress_bar(progress) as bar:
                task = bar.add_task(f"ingest {name}", total=len(files), status="")
                seq = 0
                for path, reader in readers:
                    for batch in reader.read(path, hasher, seq):
                        if batch.frame.height:
                            writer.add_batch(batch.frame, batch.source)
                            seq = max(seq, int(batch.frame["_seq"].max()) + 1)  # type: ignore[arg-type]
                        writer.add_malformed(batch.malformed)
                        seq += len(batch.malformed)
                        s = writer.summary
                        bar.update(task, status=f"{s.n_requests:,} requests, {s.n_quarantined:,} malformed")
                    bar.advance(task)
            return writer.finish(
                content_hash=hasher.hexdigest(),
                fmt="+".join(formats),
                sources=[str(p) for p in files],
                strict=strict,
            )
        except BaseException:
            writer.rollback()
            raise


def _content_hash(files: list[Path]) -> str:
    """The same digest the readers compute while reading: every byte of every file, in order."""
    hasher = hashlib.sha256()
    for path in files:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                hasher.update(block)
    return hasher.hexdigest()
