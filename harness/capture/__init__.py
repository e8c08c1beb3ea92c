"""Log readers: one per format, each turning files into canonical batches.

`sniff()` picks the format from the content (the file name is only a hint), so
`harness ingest --format auto` works on logs that are named oddly or gzipped. Formats other
than the canonical record are converted by their reader into canonical records first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.capture.base import BOM, RawBatch, Reader, open_source
from harness.capture.convert import first_document
from harness.capture.csv import CsvReader
from harness.capture.jsonl import JsonlReader
from harness.capture.parquet import ParquetReader
from harness.errors import IngestError

__all__ = ["READERS", "RawBatch", "Reader", "reader_for", "sniff", "group_by_reader"]

#: Readers by name; JSON formats are tried in this order and the canonical record comes last.
READERS: dict[str, type] = {}


def register(reader: type) -> type:
    """Add a reader class (with `name`, `matches(document)` and `read_group`) to the registry."""
    READERS[reader.name] = reader
    return reader


def _register_builtin() -> None:
    from harness.capture import langfuse, langsmith, openai_batch, openai_chat, openinference, otel

    for module in (otel, openinference, openai_batch, openai_chat, langfuse, langsmith):
        for reader in module.READERS:
            register(reader)
    for reader in (JsonlReader, CsvReader, ParquetReader):
        register(reader)


def sniff(path: Path) -> str:
    """Name the format of a log file from its first bytes."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        return "parquet"
    with open_source(path) as stream:
        head = stream.read(1 << 20).removeprefix(BOM).lstrip()
    if not head:
        raise IngestError(f"{path}: the file is empty")
    if head[:1] in (b"{", b"["):
        document = first_document(head)
        for name, reader in READERS.items():
            matches = getattr(reader, "matches", None)
            if matches is not None and document is not None and matches(document):
                return name
        return "jsonl"
    first_line = head.split(b"\n", 1)[0]
    if b"," in first_line and b"request_id" in first_line:
        return "csv"
    raise IngestError(
        f"{path}: cannot tell the log format from its content; name it with --format ({', '.join(READERS)})"
    )


def reader_for(path: Path, fmt: str = "auto") -> Any:
    """The reader for a file, by sniffing when fmt is 'auto'."""
    name = sniff(path) if fmt == "auto" else fmt
    if name not in READERS:
        raise IngestError(f"unknown format {fmt!r} (formats: auto, {', '.join(READERS)})")
    return READERS[name]()


def group_by_reader(paths: list[Path], fmt: str = "auto") -> list[tuple[Any, list[Path]]]:
    """Files grouped by reader, in order of first appearance (a format that joins several files,
    such as OpenAI Batch input and output, reads its group together)."""
    groups: dict[str, tuple[Any, list[Path]]] = {}
    for path in paths:
        reader = reader_for(path, fmt)
        key = getattr(reader, "group", reader.name)
        groups.setdefault(key, (reader, []))[1].append(path)
    return list(groups.values())


_register_builtin()
