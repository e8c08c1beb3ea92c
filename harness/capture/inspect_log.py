"""Inspect AI evaluation logs (`.eval` archives and `.json` logs) to canonical records.

An `.eval` log is a zip archive: `header.json` (or, while the run is going, `_journal/start.json`)
holds the `eval` spec, and `samples/<id>_epoch_<n>.json` one sample each. A `.json` log is one
document `{"version", "status", "eval", "plan", "results", "stats", "samples": [...]}`. Each sample
(one epoch of one dataset sample) becomes one request:

| canonical | from |
|---|---|
| request_id | the sample `id` (`<id>#<epoch>` from the second epoch on), so two runs of a task pair up |
| timestamp | the sample's `started_at`, else the eval's `created` |
| input | the sample `input`: a string, or its chat messages in OpenAI form |
| reference | the sample `target` (a list of targets joined by newlines) |
| metadata | the sample `metadata`, plus `task`, `task_version`, `epoch` and the scores (`scores`: name -> value) |
| output | the sample output's `completion`, else the last assistant message's text |
| model | the sample output's `model`, else the eval's `model` |
| tool_calls | the assistant messages' tool calls in order (`function`, `arguments`), each with the content of the tool message that answered it |
| usage | summed over the sample's `model_usage` (`input_tokens`, `output_tokens`, `input_tokens_cache_read`) |
| cost_usd | summed `total_cost` of `model_usage`, when every model states one |
| latency_ms | the sample's `total_time` (seconds) |
| error | the sample's `error`: `{"type": "sample_error", "message": ...}` |

`--variant-from` reads the eval spec: `model`, `task_version`, `task`, `run_id`, any other `eval`
key, or a dotted path (`model_args.temperature`, `metadata.release`). A sample member larger than
the line limit (see harness.capture.documents) is set aside unread, like an over-long line.
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.canonical import Malformed
from harness.capture.base import RawBatch
from harness.capture.documents import MAX_DOCUMENT_BYTES, iter_documents, size_text
from harness.capture.span_values import chat_message, text_of, tool_call_message_entry
from harness.capture.values import (
    Item,
    batches,
    count,
    identifier,
    malformed,
    mapping,
    merged_variants,
    number,
    summed,
    timestamp,
    variant_value,
)

__all__ = ["READERS", "InspectLogReader"]

_ZSTANDARD = 93
"""The zip compression method number of Zstandard."""


class InspectLogReader:
    """Inspect AI logs, `.eval` or `.json`; one request per sample and epoch."""

    name = "inspect"
    variant_from: str | None = None

    @staticmethod
    def matches(document: Any) -> bool:
        """An Inspect `.json` log: an `eval` spec with a task, beside `samples` or a `version`."""
        return (isinstance(document, dict) and isinstance(document.get("eval"), dict) and "task" in document["eval"]
                and ("samples" in document or "version" in document))

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]:
        items: list[Item] = []
        for path in paths:
            items += self._archive(path, hashers[path]) if zipfile.is_zipfile(path) else self._json(path, hashers[path])
        return batches(merged_variants(items) if self.variant_from else items, seq_start)

    def _json(self, path: Path, hasher: Any) -> list[Item]:
        source = str(path)
        items: list[tuple[str, int, dict[str, Any]] | Malformed] = []
        for line, document, error in iter_documents(path, hasher):
            if error is not None:
                items.append(Malformed(source, line, error))
            elif not self.matches(document):
                items.append(malformed(source, line, "not an Inspect log (no eval spec with a task)", document))
            else:
                samples = document.get("samples") or []
                items += [self._item(source, i, document["eval"], sample) for i, sample in enumerate(samples, 1)]
        return items

    def _archive(self, path: Path, hasher: Any) -> list[Item]:
        """An `.eval` zip: the eval spec from header.json (or the journal), then each sample member."""
        source = str(path)
        with open(path, "rb") as f:  # content identity: every byte, as for the other formats
            for block in iter(lambda: f.read(1 << 20), b""):
                hasher.update(block)
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                spec_member = next((n for n in ("header.json", "_journal/start.json") if n in names), None)
                if spec_member is None:
                    return [Malformed(source, None, "an .eval archive without header.json or _journal/start.json")]
                spec, error = _member(archive, spec_member)
                if error is not None or not isinstance(spec, dict) or not isinstance(spec.get("eval"), dict):
                    return [Malformed(source, None, f"{spec_member}: {error or 'no eval spec'}")]
                items: list[Item] = []
                members = [n for n in names if n.startswith("samples/") and n.endswith(".json")]
                for position, name in enumerate(members, start=1):
                    sample, error = _member(archive, name)
                    if error is not None or not isinstance(sample, dict):
                        items.append(Malformed(source, position, f"{name}: {error or 'not a sample object'}"))
                    else:
                        items.append(self._item(source, position, spec["eval"], sample))
                return items
        except (zipfile.BadZipFile, OSError) as exc:
            return [Malformed(source, None, f"a damaged .eval archive ({exc})")]

    def _item(self, source: str, position: int, spec: dict[str, Any], sample: Any) -> Item:
        if not isinstance(sample, dict) or sample.get("id") is None:
            return malformed(source, position, "a sample without an id", sample)
        try:
            return source, position, _record(spec, sample, self._variant(spec))
        except ValueError as exc:
            return malformed(source, position, str(exc), sample)

    def _variant(self, spec: dict[str, Any]) -> str:
        if self.variant_from is None:
            return "prod"
        return variant_value({**mapping(spec.get("metadata")), **spec}, self.variant_from)


def _member(archive: zipfile.ZipFile, name: str) -> tuple[Any, str | None]:
    """One JSON member of the archive, read only when within the size limit."""
    info = archive.getinfo(name)
    if info.file_size > MAX_DOCUMENT_BYTES:
        return None, f"{size_text(info.file_size)}, over the {size_text(MAX_DOCUMENT_BYTES)} limit for one record"
    if info.compress_type == _ZSTANDARD:
        data = _zstd_member(archive, info)
    else:
        with archive.open(info) as member:
            data = member.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        return None, f"over the {size_text(MAX_DOCUMENT_BYTES)} limit for one record"
    try:
        return json.loads(data), None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"invalid JSON ({exc})"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"


def _zstd_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A Zstandard-compressed member (what Inspect writes), at most one byte over the limit: the
    member's bytes are found from its local header and decompressed as a stream."""
    import zstandard

    handle = archive.fp
    if handle is None:
        raise zipfile.BadZipFile("the archive is closed")
    handle.seek(info.header_offset)
    header = handle.read(30)
    if header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    handle.seek(info.header_offset + 30 + name_length + extra_length)
    compressed = handle.read(info.compress_size)
    try:
        with zstandard.ZstdDecompressor().stream_reader(compressed, read_across_frames=True) as reader:
            return reader.read(MAX_DOCUMENT_BYTES + 1)
    except zstandard.ZstdError as exc:
        raise zipfile.BadZipFile(f"{info.filename}: {exc}") from None


def _record(spec: dict[str, Any], sample: dict[str, Any], variant: str) -> dict[str, Any]:
    epoch = count(sample.get("epoch")) or 1
    request_id = str(identifier(sample["id"])) + (f"#{epoch}" if epoch > 1 else "")
    sample_input = sample.get("input")
    if isinstance(sample_input, list):
        messages = [m for m in map(_message, sample_input) if m]
        if not messages:
            raise ValueError(f"sample {request_id}: its input holds no message")
        sample_input = {"messages": messages}
    metadata = {**mapping(sample.get("metadata")), "task": spec.get("task"), "task_version": spec.get("task_version"),
                "epoch": epoch}
    scores = {name: mapping(score).get("value") for name, score in mapping(sample.get("scores")).items()}
    if scores:
        metadata["scores"] = scores
    target = sample.get("target")
    return {
        "request_id": request_id,
        "timestamp": timestamp(sample.get("started_at") or spec.get("created")),
        "input": sample_input,
        "reference": "\n".join(map(str, target)) if isinstance(target, list) else target,
        "metadata": {k: v for k, v in metadata.items() if v is not None},
        "captured": _captured(spec, sample, variant),
    }


def _captured(spec: dict[str, Any], sample: dict[str, Any], variant: str) -> dict[str, Any]:
    output = mapping(sample.get("output"))
    messages = [m for m in sample.get("messages") or [] if isinstance(m, Mapping)]
    answer = output.get("completion") or next(
        (text for m in reversed(messages) if m.get("role") == "assistant" if (text := text_of(m.get("content")))), None)
    usages = [mapping(u) for u in mapping(sample.get("model_usage")).values()]
    usage = {key: summed(count(u.get(field)) for u in usages) for key, field in (
        ("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
        ("cached_input_tokens", "input_tokens_cache_read"))}
    costs = [number(u.get("total_cost")) for u in usages]
    error = sample.get("error")
    seconds = number(sample.get("total_time"))
    return {
        "variant": variant,
        "output": answer or None,
        "model": output.get("model") or spec.get("model"),
        "tool_calls": _tool_calls(messages),
        "usage": {k: v for k, v in usage.items() if v is not None} or None,
        "cost_usd": sum(costs) if costs and all(c is not None for c in costs) else None,  # type: ignore[arg-type]
        "latency_ms": None if seconds is None else round(seconds * 1000, 3),
        "error": None if not error else {"type": "sample_error", "message": str(mapping(error).get("message") or error)},
    }


def _tool_calls(messages: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The assistant messages' tool calls in order, each with the tool message that answered it."""
    results = {m.get("tool_call_id"): m for m in messages if m.get("role") == "tool" and m.get("tool_call_id")}
    calls = []
    for message in messages:
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            call = mapping(call)
            entry: dict[str, Any] = {"name": call.get("function"), "arguments": call.get("arguments")}
            answer = results.get(call.get("id"))
            if answer is not None:
                entry["result"] = text_of(answer.get("content"))
            calls.append(entry)
    return calls


def _message(message: Any) -> dict[str, Any] | None:
    """An Inspect chat message in OpenAI form."""
    if not isinstance(message, Mapping):
        return None
    calls = [tool_call_message_entry(c.get("id"), c.get("function"), c.get("arguments"))
             for c in message.get("tool_calls") or [] if isinstance(c, Mapping)]
    return chat_message(message.get("role"), text_of(message.get("content")), calls, message.get("tool_call_id"))


READERS: list[type] = [InspectLogReader]
