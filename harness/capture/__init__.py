"""Log readers: one per format, each turning files into canonical batches.

`sniff()` picks the format from the content (the file name is only a hint), so
`harness ingest --format auto` works on logs that are named oddly or gzipped. Formats other
than the canonical record are converted by their reader into canonical records first. A file
no reader recognises is described (a JSON array of N objects with keys ..., a JSON object with
keys ...) instead of being read line by line into a pile of errors.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from harness.capture.base import BOM, RawBatch, Reader, open_source
from harness.capture.csv import CsvReader
from harness.capture.documents import first_document, iter_documents, parsed_line
from harness.capture.jsonl import JsonlReader
from harness.capture.parquet import ParquetReader
from harness.errors import IngestError

__all__ = ["ALIASES", "FORMATS", "READERS", "RawBatch", "Reader", "group_by_reader", "reader_for", "sniff"]

#: Readers by name; JSON formats are tried in this order and the canonical record comes last.
READERS: dict[str, type] = {}
#: Other names `--format` accepts, and the reader each stands for.
ALIASES = {"openai_batch": "openai_batch_input", "phoenix": "openinference", "inspect_ai": "inspect",
           "json_array": "json"}
#: One line per format for `ingest --help` and error messages: accepted names and what is read.
FORMATS = {
    "jsonl": "the canonical record, JSON Lines",
    "json": "canonical records as a JSON array (or {\"data\": [...]})",
    "csv": "canonical columns", "parquet": "canonical columns",
    "otel": "OpenTelemetry GenAI spans, OTLP JSON",
    "otel_sdk": "OpenTelemetry SDK span dumps (console exporter, {\"spans\": [...]})",
    "openinference (phoenix)": "OpenInference / Arize Phoenix spans",
    "openai_chat": "OpenAI chat-completion request/response logs",
    "openai_batch": "OpenAI / vLLM Batch input + output files",
    "langfuse": "Langfuse trace exports", "langsmith": "LangSmith runs and SDK payloads",
    "inspect (inspect_ai)": "Inspect AI logs, .eval or .json",
}
_ZIP_MAGIC = b"PK\x03\x04"


def register(reader: type[Any]) -> type[Any]:
    """Add a reader class (with `name`, `matches(document)` and `read_group`) to the registry."""
    READERS[reader.name] = reader
    return reader


def _register_builtin() -> None:
    from harness.capture import (
        inspect_log,
        json_records,
        langfuse,
        langsmith,
        openai_batch,
        openai_chat,
        openinference,
        otel,
        otel_sdk,
    )

    for module in (otel, openinference, otel_sdk, openai_batch, openai_chat, langfuse, langsmith, inspect_log):
        for reader in module.READERS:
            register(reader)
    for reader in (JsonlReader, json_records.JsonRecordsReader, CsvReader, ParquetReader):
        register(reader)


def sniff(path: Path) -> str:
    """Name the format of a log file from its first bytes; IngestError describing the file when
    no reader recognises it."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":
        return "parquet"
    if magic == _ZIP_MAGIC:
        return _sniff_zip(path)
    with open_source(path) as stream:
        head = stream.read(1 << 20).removeprefix(BOM).lstrip()
    if not head:
        raise IngestError(f"{path}: the file is empty")
    if head[:1] in (b"{", b"["):
        document = first_document(path)
        for name, reader in READERS.items():
            matches = getattr(reader, "matches", None)
            if matches is not None and document is not None and matches(document):
                return name
        canonical = isinstance(document, dict) and ("request_id" in document or "input" in document)
        if canonical and head[:1] == b"{" and _first_line_parses(head):
            return "jsonl"
        if canonical:
            return "json"
        raise IngestError(f"{path}: {describe(path, head)}; not a format harness reads. " + _format_list())
    first_line = head.split(b"\n", 1)[0]
    if b"," in first_line and b"request_id" in first_line:
        return "csv"
    raise IngestError(f"{path}: cannot tell the log format from its content; name it (`fmt`). "
                      + _format_list())


def _sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise IngestError(f"{path}: a damaged zip archive ({exc})") from None
    if "header.json" in names or "_journal/start.json" in names:
        return "inspect"
    shown = ", ".join(sorted(names)[:5])
    raise IngestError(f"{path}: a zip archive ({shown}) that is not an Inspect log. " + _format_list())


def _first_line_parses(head: bytes) -> bool:
    return parsed_line(head.split(b"\n", 1)[0])[1] is None


def describe(path: Path, head: bytes) -> str:
    """What a JSON file holds, in words: its shape, its size and the keys of its first record."""
    documents = iter_documents(path)
    first, count, errors = None, 0, 0
    for _, document, error in documents:
        if error is not None:
            errors += 1
            if count == 0 and first is None:
                return f"a JSON file that does not parse ({error})"
            continue
        if first is None:
            first = document
        count += 1
    keys = _keys(first)
    if head[:1] == b"[":
        kind = "objects" if isinstance(first, dict) else "values"
        return f"a JSON array of {count:,} {kind}" + (f" (the first with keys {keys})" if keys else "")
    if head[:1] == b"{" and _first_line_parses(head):
        return f"JSON Lines of {count:,} records" + (f" (the first with keys {keys})" if keys else "")
    return f"a JSON object with keys {keys}" if count <= 1 else f"a JSON document of {count:,} records ({keys})"


def _keys(document: Any) -> str:
    if not isinstance(document, dict):
        return ""
    names = list(document)
    return ", ".join(names[:12]) + (f", ... ({len(names)} keys)" if len(names) > 12 else "")


def _format_list() -> str:
    """The formats harness reads, for error messages."""
    return "Formats read: " + "; ".join(f"{name}: {what}" for name, what in FORMATS.items()) + \
        ". The canonical format is JSON Lines, one record per line (datasets/README.md)."


def reader_for(path: Path, fmt: str = "auto", variant_from: str | None = None) -> Any:
    """The reader for a file, by sniffing when fmt is 'auto'; `variant_from` names where the
    converting readers find each record's captured variant."""
    name = sniff(path) if fmt == "auto" else ALIASES.get(fmt, fmt)
    if name not in READERS:
        names = ", ".join(["auto", *READERS, *ALIASES])
        raise IngestError(f"unknown format {fmt!r} (formats: {names})")
    reader = READERS[name]()
    if variant_from is not None:
        if not hasattr(reader, "variant_from"):
            raise IngestError(f"{path}: `variant_from` does not apply to {name} files: canonical records name "
                              "their variant in captured.variant")
        reader.variant_from = variant_from
    return reader


def group_by_reader(paths: list[Path], fmt: str = "auto",
                    variant_from: str | None = None) -> list[tuple[Any, list[Path]]]:
    """Files grouped by reader, in order of first appearance (a format that joins several files,
    such as OpenAI Batch input and output, reads its group together)."""
    groups: dict[str, tuple[Any, list[Path]]] = {}
    for path in paths:
        reader = reader_for(path, fmt, variant_from)
        key = getattr(reader, "group", reader.name)
        groups.setdefault(key, (reader, []))[1].append(path)
    return list(groups.values())


_register_builtin()
