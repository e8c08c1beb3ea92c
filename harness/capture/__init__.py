"""Log readers: one per format, each turning a file into canonical batches.

`sniff()` picks the format from the content (the file name is only a hint), so
`harness ingest --format auto` works on logs that are named oddly or gzipped.
"""

from __future__ import annotations

from pathlib import Path

from harness.capture.base import BOM, RawBatch, Reader, open_source
from harness.capture.csv import CsvReader
from harness.capture.jsonl import JsonlReader
from harness.capture.parquet import ParquetReader
from harness.errors import IngestError

__all__ = ["READERS", "RawBatch", "Reader", "reader_for", "sniff"]

READERS: dict[str, type] = {"jsonl": JsonlReader, "csv": CsvReader, "parquet": ParquetReader}


def sniff(path: Path) -> str:
    """Name the format of a log file from its first bytes."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        return "parquet"
    with open_source(path) as stream:
        head = stream.read(64 * 1024).removeprefix(BOM).lstrip()
    if not head:
        raise IngestError(f"{path}: the file is empty")
    if head[:1] == b"{":
        return "jsonl"
    first_line = head.split(b"\n", 1)[0]
    if b"," in first_line and b"request_id" in first_line:
        return "csv"
    raise IngestError(
        f"{path}: cannot tell the log format from its content; name it with --format ({', '.join(READERS)})"
    )


def reader_for(path: Path, fmt: str = "auto") -> Reader:
    """The reader for a file, by sniffing when fmt is 'auto'."""
    name = sniff(path) if fmt == "auto" else fmt
    if name not in READERS:
        raise IngestError(f"unknown format {fmt!r} (formats: auto, {', '.join(READERS)})")
    return READERS[name]()
