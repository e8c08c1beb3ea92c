"""JSON that Python's parser refuses (nested too deeply, an integer past its 4,300-digit limit) never
stops an ingest of a converted format: as text inside a value (tool arguments, messages, metadata
stored as JSON text) it stays text, and as a whole line it is that line's quarantine entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.capture.documents import iter_documents, parsed_line
from harness.ingest import ingest
from harness.store import Store
from tests.converted_paths import both_ways

FIXTURES = Path(__file__).parent / "fixtures"
LOGS = {  # format: fixtures with values stored as JSON text
    "otel": [FIXTURES / "otel" / "traces.json"],
    "openinference": [FIXTURES / "openinference" / "phoenix-spans.jsonl"],
    "langsmith": [FIXTURES / "langsmith" / "runs.jsonl"],
    "openai_chat": [FIXTURES / "openai_chat" / "gateway.jsonl"],
    "langfuse": [FIXTURES / "langfuse" / "traces.jsonl", FIXTURES / "langfuse" / "observations.jsonl"],
}
REFUSED = {"deep": "[" * 5_000 + "]" * 5_000, "digits": "[" + "7" * 5_000 + "]"}


def refused_inside(document: Any, text: str) -> Any:
    """The document with every string that holds JSON text (starts with a bracket) replaced by `text`."""
    if isinstance(document, dict):
        return {key: refused_inside(value, text) for key, value in document.items()}
    if isinstance(document, list):
        return [refused_inside(value, text) for value in document]
    if isinstance(document, str) and document.lstrip()[:1] in ("{", "["):
        return text
    return document


def lines_with(path: Path, text: str) -> list[str]:
    """The file's lines with `text` in place of their JSON text (the fixtures' malformed lines as they are)."""
    def changed(line: str) -> str:
        try:
            return json.dumps(refused_inside(json.loads(line), text))
        except ValueError:
            return line
    return [changed(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("refused", sorted(REFUSED))
@pytest.mark.parametrize("fmt", sorted(LOGS))
def test_json_text_the_parser_refuses_stays_text(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 fmt: str, refused: str) -> None:
    """Every JSON-text value of the fixtures replaced by one Python cannot parse: the ingest runs to its
    end, every request or trace is still accounted for, the refused text is kept as text, and a SQL
    path (where the format has one) stores what the Python reader stores."""
    original = ingest(store, LOGS[fmt], "original", fmt=fmt, progress=False)
    paths = [tmp_path / log.name for log in LOGS[fmt]]
    for log, path in zip(LOGS[fmt], paths, strict=True):
        path.write_text("\n".join(lines_with(log, REFUSED[refused])) + "\n", encoding="utf-8")

    fast, slow = both_ways(store, paths, fmt, monkeypatch)  # dataset "fast" as an ingest stores it

    assert len(fast["requests"]) + len(fast["quarantine"]) == original.n_requests + original.n_quarantined
    assert fast["requests"] and fast == slow
    cells = [str(value) for frame in (store.requests("fast"), store.captured("fast"))
             for row in frame.iter_rows() for value in row]
    assert any(REFUSED[refused][:50] in cell for cell in cells)


@pytest.mark.parametrize("first", [True, False])
def test_a_line_too_deep_to_parse_is_set_aside_wherever_it_sits(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: bool) -> None:
    """A JSON Lines file whose first (or a later) line is nested too deeply for Python's parser is still
    read line by line: that line is quarantined, every other one ingested, sniffed or named, either path."""
    lines = LOGS["openai_chat"][0].read_text(encoding="utf-8").splitlines()
    deep = json.dumps({"request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}})
    deep = deep[:-1] + ', "extra": ' + "[" * 990 + "]" * 990 + "}"
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join([deep, *lines] if first else [*lines, deep]) + "\n", encoding="utf-8")
    whole = ingest(store, LOGS["openai_chat"], "whole", fmt="openai_chat", progress=False)

    sniffed = ingest(store, [path], "sniffed", progress=False)
    fast, slow = both_ways(store, [path], "openai_chat", monkeypatch)

    assert (sniffed.n_requests, sniffed.n_quarantined) == (whole.n_requests, whole.n_quarantined + 1)
    assert fast == slow
    line = 1 if first else len(lines) + 1
    assert [row["reason"] for row in fast["quarantine"] if row["line"] == line] == ["invalid JSON: nested too deeply"]


def test_a_log_whose_first_line_is_cut_short_keeps_the_rest_however_long(tmp_path: Path) -> None:
    """A log whose first line is cut short, longer than one document may be: the file is still JSON
    Lines, the first line set aside and every other line read (it used to be read as one document,
    refused as too long, with every line in it)."""
    lines = LOGS["openai_chat"][0].read_bytes().rstrip(b"\n").split(b"\n")  # (some hold \x1c or \u2028)
    path = tmp_path / "rotated.jsonl"
    path.write_bytes(b"\n".join([b'{"request": {"model": "gpt-4.1", "messa', *lines * 400]) + b"\n")
    limit = path.stat().st_size // 4  # four times what one document may hold, and more than one read (1 MiB)

    read = list(iter_documents(path, limit=limit))

    assert len(read) == 1 + 400 * len(lines)
    assert read[0][0] == 1 and read[0][2] is not None and read[0][2].startswith("invalid JSON")
    assert [line for line, _, _ in read] == list(range(1, len(read) + 1))
    assert [(document, error) for _, document, error in read[1:]] == [parsed_line(line + b"\n") for line in lines * 400]
