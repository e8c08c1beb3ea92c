"""`harness ingest-states`: state snapshots -> one immutable, named state set in the store.

Like `harness ingest`: malformed rows are set aside with file, line and reason (`strict`
turns any into a failed load that writes nothing), the whole load is one transaction, the
same content again is a no-op and different content under the same name an error unless
`replace`. A key may appear once per state set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from harness.errors import IngestError
from harness.migration.sources import FORMATS, QUERY_FORMATS, read_states, sniff
from harness.progress import progress_bar
from harness.store import Store
from harness.store.states import StateSetSummary

__all__ = ["MAX_STATE_BYTES", "ingest_states"]

MAX_STATE_BYTES = 64 << 20
"""One state larger than this is set aside: a bound on what one row may cost in memory."""


def ingest_states(store: Store, paths: Sequence[str | Path], name: str, *, schema_version: str,
                  query: str | None = None, fmt: str = "auto", strict: bool = False, replace: bool = False,
                  max_state_bytes: int = MAX_STATE_BYTES, progress: bool = True) -> StateSetSummary:
    """Load state snapshots into state set `name`, recorded as schema `schema_version`."""
    files = [Path(p) for p in paths]
    if not files:
        raise IngestError("no input files given")
    if not schema_version.strip():
        raise IngestError("`schema_version` must not be empty")
    if fmt != "auto" and fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r} (formats: auto, {', '.join(FORMATS)})")
    formats = []
    for path in files:
        if not path.is_file():
            raise IngestError(f"{path}: no such file")
        found = sniff(path) if fmt == "auto" else fmt
        if found in QUERY_FORMATS and not query:
            raise IngestError(f"{path} is a {found} file: give `query`, e.g. "
                              "\"SELECT user_id AS key, state, updated_at FROM user_state\"")
        if query and found not in QUERY_FORMATS:
            raise IngestError(f"{path} is {found}, not a DuckDB or SQLite file: `query` applies to databases only")
        formats.append(found)
    identity = hashlib.sha256()
    for path, found in zip(files, formats, strict=True):
        with open(path, "rb") as f:
            identity.update(f"{hashlib.file_digest(f, 'sha256').hexdigest()}:{found}\n".encode())
    identity.update(f"query:{query or ''}\nschema_version:{schema_version}".encode())
    with store.state_set_writer(name, replace=replace) as writer:
        if writer.check_existing(identity.hexdigest()):
            return writer.summary
        writer.begin()
        try:
            with progress_bar(progress) as bar:
                task = bar.add_task(f"ingest-states {name}", total=len(files), status="")
                seq = 0
                for path, found in zip(files, formats, strict=True):
                    for batch in read_states(path, found, query, seq, max_state_bytes):
                        writer.add_states(batch.frame)
                        writer.add_malformed(batch.malformed)
                        seq += batch.frame.height
                        s = writer.summary
                        bar.update(task, status=f"{s.n_states:,} states, {s.n_quarantined:,} malformed")
                    bar.advance(task)
            return writer.finish(content_hash=identity.hexdigest(), fmt="+".join(sorted(set(formats))),
                                 schema_version=schema_version, sources=[str(p) for p in files], strict=strict)
        except BaseException:
            writer.rollback()
            raise
