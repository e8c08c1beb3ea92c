"""JSON documents of a log file, streamed in bounded memory: JSON Lines, a JSON array, or one document.

Every converting reader gets its documents here, so every one of them has the same bound as the
canonical JSON Lines reader: no line, array element or single document may be longer than
`MAX_DOCUMENT_BYTES` (the JSON Lines reader's line limit). What is longer is reported with its
size (and read past without being held), so a gzip bomb or a runaway line costs neither memory nor
the rest of the file.

- JSON Lines: one document per line, read line by line.
- A JSON array: its elements, parsed one at a time from a rolling buffer.
- One JSON document (pretty-printed): read whole, up to the limit.

An envelope, on a line or as the whole document, gives its items: `{"data": [...]}` (also
`traces`, `runs`, `observations`, `items`, `spans`; not a trace with its observations) and an
object whose every value is a list of objects (`{"post": [...], "patch": [...]}`, a dict of span
lists). Anything else is one document.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from harness.capture.base import BOM, open_source
from harness.capture.jsonl import RAW_PREFIX_BYTES, JsonlReader

__all__ = ["ENVELOPE_KEYS", "MAX_DOCUMENT_BYTES", "RAW_PREFIX_BYTES", "Document", "first_document", "iter_documents", "line_documents",
           "parsed_line",
           "size_text", "too_long"]

MAX_DOCUMENT_BYTES: int = JsonlReader().max_line_bytes
"""The most bytes of one line, array element or single document: the JSON Lines reader's limit."""
CHUNK = 1 << 20
ENVELOPE_KEYS = ("data", "traces", "runs", "observations", "items", "spans")
_NOT_ENVELOPES = frozenset({"resourceSpans", "resource_spans"})
_WHITESPACE = b" \t\r\n"

Document = tuple[int, Any, str | None]
"""(line or 1-based position in an array, the parsed document or None, the reason it is None)."""


def size_text(n: int) -> str:
    """A byte count for people: 812 bytes, 40.0 KiB, 50.0 MiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def iter_documents(path: Path, hasher: Any = None, limit: int = MAX_DOCUMENT_BYTES) -> Iterator[Document]:
    """Every JSON document of a file, with its line (or array position), in bounded memory.

    A document that cannot be read yields (line, None, reason); the caller quarantines it. The
    whole file is always read, so `hasher` sees every byte."""
    with open_source(path, hasher) as stream:
        source = _Source(stream)
        try:
            first = source.first_byte()
            if first == b"[":
                yield from _array(source, limit)
            elif first == b"{":
                yield from _object_or_lines(source, limit)
            elif first:
                yield from _lines(source, limit, 1)
        finally:
            if hasher is not None:  # the content hash covers every byte
                source.drain()


def first_document(path: Path, limit: int = MAX_DOCUMENT_BYTES, tries: int = 100) -> Any:
    """The first document of a file that parses (for sniffing), or None when none of the first
    `tries` does."""
    for n, (_, document, error) in enumerate(iter_documents(path, limit=limit)):
        if error is None:
            return document
        if n >= tries:
            break
    return None


class _Source:
    """A binary stream with a pushback buffer, so a peeked head (or a whole block read as one
    document, when it turns out to be JSON Lines) is read again; the buffer is read through an
    offset, so pushing back many lines costs no copy per line."""

    def __init__(self, stream: BinaryIO | _BytesStream) -> None:
        self._stream = stream
        self._pending = _BytesStream(b"")

    def first_byte(self) -> bytes:
        """The first byte after a BOM and whitespace, left unread."""
        head = self._stream.read(CHUNK).removeprefix(BOM)
        while head and not head.lstrip(_WHITESPACE):
            head = self._stream.read(CHUNK)
        head = head.lstrip(_WHITESPACE)
        self._pending = _BytesStream(head)
        return head[:1]

    def push_back(self, data: bytes) -> None:
        self._pending = _BytesStream(data + self._pending.read())

    def read(self, n: int) -> bytes:
        data = self._pending.read(n)
        return data if len(data) == n else data + self._stream.read(n - len(data))

    def readline(self, limit: int) -> bytes:
        line = self._pending.readline(limit)
        if line.endswith(b"\n") or len(line) >= limit:
            return line
        return line + self._stream.readline(limit - len(line))

    def drain(self) -> None:
        """Read to the end (the content hash covers every byte), holding nothing."""
        self._pending = _BytesStream(b"")
        while self._stream.read(CHUNK):
            pass


def too_long(size: int, limit: int, what: str) -> str:
    """Why a record of `size` bytes is set aside (over `limit`; `what` is "line", "the JSON document", ...)."""
    advice = "; export it as JSON Lines (one record per line)" if what == "the JSON document" else ""
    return f"{what} is {size_text(size)}, over the {size_text(limit)} limit for one record{advice}"


def _lines(source: _Source, limit: int, number: int) -> Iterator[Document]:
    """JSON Lines from line `number` on (an envelope on a line gives its items); a line over the
    limit is read past, not held."""
    while line := source.readline(limit + 1):
        if len(line) > limit and not line.endswith(b"\n"):
            yield number, None, too_long(_rest_of_line(source, len(line)), limit, "line")
        elif line.strip():
            for document, error in line_documents(line):
                yield number, document, error
        number += 1


def line_documents(line: bytes | bytearray) -> list[tuple[Any, str | None]]:
    """The documents of one JSON line, each with None or why it is not one: the line's value, or
    the items of the envelope it is."""
    document, error = parsed_line(line)
    items = envelope_items(document) if isinstance(document, dict) else None
    return [(item, error) for item in items] if items is not None else [(document, error)]


def _rest_of_line(source: _Source, size: int) -> int:
    """Read past the rest of a line; the whole line's size."""
    while more := source.readline(CHUNK):
        if more.endswith(b"\n"):
            return size + len(more) - 1
        size += len(more)
    return size


def parsed_line(line: bytes | bytearray) -> tuple[Any, str | None]:
    """One line's JSON value, or None and why it is not one."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start}"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except ValueError:  # Python's limit on the digits of an integer (4,300): not a crash of the whole ingest
        return None, "invalid JSON: an integer with too many digits"


def _object_or_lines(source: _Source, limit: int) -> Iterator[Document]:
    """JSON Lines when the first line is a whole JSON value, else one document (read whole)."""
    first = source.readline(limit + 1)
    if len(first) > limit and not first.endswith(b"\n"):
        yield 1, None, too_long(_rest_of_line(source, len(first)), limit, "line")
        yield from _lines(source, limit, 2)
        return
    if parsed_line(first)[1] is None:
        yield from _lines(_Source(_BytesStream(first)), limit, 1)
        yield from _lines(source, limit, 2)
        return
    source.push_back(first)
    for position, document, error in _values(source, limit, bracketed=False):
        items = envelope_items(document) if isinstance(document, dict) else None
        for item in items if items is not None else [document]:
            yield position, item, error


def _looks_like_lines(text: str) -> bool:
    """True when one of the lines after the first (within CHUNK characters of it) is a whole JSON
    object by itself: JSON Lines whose first line is broken, not one document."""
    end = text.find("\n")
    if end < 0:
        return False
    for line in text[end + 1: end + 1 + CHUNK].split("\n")[:49]:
        if line.lstrip()[:1] == "{":
            document, error = parsed_line(line.encode())
            if error is None and isinstance(document, dict):
                return True
    return False


class _BytesStream:
    """Bytes already read, as the small stream interface _Source needs."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._at + n
        out, self._at = self._data[self._at:end], min(end, len(self._data))
        return out

    def readline(self, limit: int = -1) -> bytes:
        cut = self._data.find(b"\n", self._at, len(self._data) if limit < 0 else self._at + limit)
        end = len(self._data) if cut < 0 else cut + 1
        if limit >= 0:
            end = min(end, self._at + limit)
        out, self._at = self._data[self._at:end], end
        return out


def envelope_items(document: dict[str, Any]) -> list[Any] | None:
    """The records an export wraps, or None when the object is one record: `{"data": [...]}` and
    the like (an envelope without an id or a trace of its own, so a trace with its
    `observations` stays whole), or an object whose every value is a non-empty list of objects (concatenated)."""
    if "id" not in document and "trace" not in document:
        for key in ENVELOPE_KEYS:
            items = document.get(key)
            if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
                return items
    if document and not _NOT_ENVELOPES & document.keys() and all(
        isinstance(v, list) and v and all(isinstance(i, dict) for i in v) for v in document.values()
    ):
        return [item for value in document.values() for item in value]
    return None


def _array(source: _Source, limit: int) -> Iterator[Document]:
    """The elements of a top-level JSON array, one at a time, each at most `limit` characters."""
    return _values(source, limit, bracketed=True)


def _values(source: _Source, limit: int, bracketed: bool) -> Iterator[Document]:
    """JSON values one at a time, each at most `limit` characters: the elements of a top-level
    array (`bracketed`), else values one after another (one document, or the concatenated objects
    the OpenTelemetry console exporter prints). A value cut off at the end of the buffer is read on
    with twice the buffer, so a large value costs a few parses, not one per chunk."""
    decoder = json.JSONDecoder()
    text = codecs.getincrementaldecoder("utf-8")()
    buffer, pos, eof, index, read = "", 0, False, 0, 0

    def more() -> None:
        nonlocal buffer, pos, eof, read
        chunk = source.read(max(CHUNK, len(buffer) - pos))
        try:
            buffer = buffer[pos:] + text.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise _Stop(f"invalid UTF-8 at byte {read + exc.start}") from None
        read += len(chunk)
        pos, eof = 0, not chunk

    try:
        more()
        pos = buffer.index("[") + 1 if bracketed else 0
        while True:
            while True:  # to the start of the next element, past whitespace and a separating comma
                while pos < len(buffer) and buffer[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buffer) and not (index and buffer[pos] == ","):
                    break
                if pos < len(buffer):
                    pos += 1
                elif eof and bracketed:
                    raise _Stop("the JSON array is not closed (the file is truncated)")
                elif eof:
                    return
                else:
                    more()
            if bracketed and buffer[pos] == "]":
                return
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, pos)
                    if end < len(buffer) or eof or isinstance(value, dict | list | str):
                        break  # a number or literal at the end of the buffer may go on
                except (json.JSONDecodeError, RecursionError) as exc:
                    whole = eof or len(buffer) - pos > limit  # all there is, or all one document may be
                    if whole and not bracketed and not index and _looks_like_lines(buffer):
                        # JSON Lines whose first line is broken or nested too deeply: line by line, however long
                        source.push_back(buffer.encode() + text.getstate()[0])
                        yield from _lines(source, limit, 1)
                        return
                    if isinstance(exc, RecursionError) and (eof or bracketed or index):
                        raise _Stop(f"element {index + 1} is nested too deeply") from None
                    if eof and isinstance(exc, json.JSONDecodeError):
                        raise _Stop(_syntax(exc, buffer, index, bracketed)) from None
                if len(buffer) - pos > limit:
                    raise _Stop(too_long(len(buffer) - pos, limit, _what(index + 1, bracketed)))
                more()
            index += 1
            size, pos = end - pos, end
            if size > limit:
                yield index, None, too_long(size, limit, _what(index, bracketed))
            else:
                yield index, value, None
    except _Stop as stop:
        yield index + 1, None, str(stop)


def _what(index: int, bracketed: bool) -> str:
    if bracketed:
        return f"element {index} of the JSON array"
    return "the JSON document" if index == 1 else f"JSON value {index}"


def _syntax(exc: json.JSONDecodeError, buffer: str, index: int, bracketed: bool) -> str:
    """Why a value does not parse; the line and column for a document read whole."""
    if bracketed:
        return f"invalid JSON in element {index + 1}: {exc.msg}"
    if index:
        return f"invalid JSON after value {index}: {exc.msg}"
    return f"invalid JSON document: {exc.msg} at line {exc.lineno} column {exc.colno}"


class _Stop(Exception):
    """The rest of an array cannot be read: why."""
