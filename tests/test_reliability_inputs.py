"""Reliability of inputs: malformed captured logs and bad configs.

Every malformed line is quarantined with its file, line and a reason that says what is wrong,
and every valid line around it is ingested; with `strict` any of them fails the ingest and
nothing at all is written. A whole-file problem is an error naming the file. A bad config is
an error naming the file and the dotted key, printed by the CLI without a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from harness.agents import AGENT_KINDS
from harness.capture.jsonl import RAW_PREFIX_BYTES, JsonlReader
from harness.config import load_config
from harness.errors import ConfigError, IngestError
from harness.ingest import ingest
from harness.store import Store
from tests.procs import run_harness

MiB = 1 << 20


def valid(i: int) -> bytes:
    """One valid canonical record as a JSON line (without its newline)."""
    return json.dumps({"request_id": f"ok-{i}", "input": f"question {i}", "metadata": {"intent": "faq"}}).encode()


def record(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def write_lines(path: Path, lines: list[bytes], *, newline: bytes = b"\n", final_newline: bool = True) -> Path:
    path.write_bytes(newline.join(lines) + (newline if final_newline else b""))
    return path


def table_counts(store: Store) -> dict[str, int]:
    """Rows in every table an ingest writes to."""
    return {
        t: int(store.sql(f"SELECT count(*) AS n FROM {t}")["n"][0])
        for t in ("datasets", "requests", "captured", "quarantine")
    }


NOTHING = {"datasets": 0, "requests": 0, "captured": 0, "quarantine": 0}

# One malformed line each, and the reason it must be quarantined with (a regular expression).
BAD_LINES: dict[str, tuple[bytes, str]] = {
    "truncated": (b'{"request_id": "t-1", "input": "where is my ord', r"^invalid JSON: Unterminated string"),
    "truncated_object": (b'{"request_id": "t-2", "input": "x", "metadata": {"tier": "pro"',
                         r"^invalid JSON: Expecting ',' delimiter"),
    "request_id_object": (record(request_id={"id": 1}, input="x"), r"^request_id must be a string or a number$"),
    "request_id_array": (record(request_id=["a", "b"], input="x"), r"^request_id must be a string or a number$"),
    "request_id_missing": (record(input="no id"), r"^missing request_id$"),
    "request_id_blank": (record(request_id="  ", input="x"), r"^missing request_id$"),
    "input_missing": (record(request_id="m-1"), r"^missing input$"),
    "input_null": (record(request_id="m-2", input=None), r"^missing input$"),
    "metadata_list": (record(request_id="md-1", input="x", metadata=["a", "b"]), r"^metadata must be a JSON object$"),
    "metadata_string": (record(request_id="md-2", input="x", metadata="tier=pro"), r"^metadata must be a JSON object$"),
    "captured_string": (record(request_id="c-1", input="x", captured="it shipped"),
                        r"^captured must be an object or a list of objects$"),
    "captured_list_of_non_objects": (record(request_id="c-2", input="x", captured=["it shipped", 3]),
                                     r"^captured must be an object or a list of objects$"),
    "timestamp_object": (record(request_id="ts-1", input="x", timestamp={"seconds": 1}),
                         r"^timestamp is neither ISO 8601 nor epoch seconds/milliseconds$"),
    "timestamp_unparseable": (record(request_id="ts-2", input="x", timestamp="last tuesday, around noon"),
                              r"^timestamp is neither ISO 8601 nor epoch seconds/milliseconds$"),
    "not_an_object": (b'["r-1", "where is my order?"]', r"^not a JSON object \(an array\)$"),
    "null": (b"null", r"^not a JSON object \(null\)$"),
    "binary_junk": (b"\x89PNG\r\x1a\x00\xff\xfe" + bytes(range(0x80, 0x100)), r"^invalid UTF-8 at byte 0$"),
    "nul_bytes": (b"\x00" * 32, r"^invalid JSON: Expecting value at column 1$"),
    "invalid_utf8": (b'{"request_id": "u-1", "input": "caf\xe9 au lait"}', r"^invalid UTF-8 at byte 35$"),
    "bom_mid_file": (b"\xef\xbb\xbf" + record(request_id="b-1", input="x"), r"^invalid JSON: Unexpected UTF-8 BOM"),
    # Regressions: NaN had only polars' internal error as its reason; a lone surrogate was stored as
    # a NUL character; deep nesting crashed the whole ingest with a RecursionError.
    "nan": (b'{"request_id": "n-1", "input": "x", "captured": {"cost_usd": NaN}}',
            r"^invalid JSON: NaN is not a JSON value$"),
    "lone_surrogate": (b'{"request_id": "s-1", "input": "broken \\ud83d emoji"}',
                       r"^invalid JSON: \\ud83d at column 40 is half of a UTF-16 surrogate pair, not a character$"),
    "deeply_nested": (b'{"request_id": "d-1", "input": "x", "metadata": {"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
                      r"^invalid JSON: nested too deeply$"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_malformed_line_is_quarantined_and_strict_writes_nothing(store: Store, tmp_path: Path, case: str) -> None:
    """The bad line sits at line 3 between valid ones: strict fails naming file:line and writes
    nothing; otherwise the bad line is quarantined with its reason and every valid one is kept."""
    bad, reason = BAD_LINES[case]
    log = write_lines(tmp_path / f"{case}.jsonl", [valid(0), valid(1), bad, valid(2), valid(3)])

    with pytest.raises(IngestError) as failure:
        ingest(store, [log], case, strict=True, progress=False)
    message = str(failure.value)
    assert f"{log}:3: " in message and re.search(reason.lstrip("^").rstrip("$"), message), message
    assert table_counts(store) == NOTHING

    summary = ingest(store, [log], case, progress=False)
    assert (summary.n_requests, summary.n_quarantined) == (4, 1)
    assert store.requests(case)["request_id"].to_list() == ["ok-0", "ok-1", "ok-2", "ok-3"]
    assert store.requests(case)["line"].to_list() == [1, 2, 4, 5]
    row = store.quarantine(case).row(0, named=True)
    assert (row["source"], row["line"]) == (str(log), 3)
    assert re.search(reason, row["reason"]), row["reason"]
    assert row["raw"] and row["raw_bytes"] >= len(bad) > 0


def test_every_bad_line_in_one_file_keeps_its_own_line(store: Store, tmp_path: Path) -> None:
    """All the bad lines interleaved with valid ones in one file (one block, walked line by line):
    each is quarantined at its own line with its own reason, and no valid line is lost."""
    lines: list[bytes] = []
    expected: dict[int, str] = {}
    for i, case in enumerate(sorted(BAD_LINES)):
        lines.append(valid(i))
        lines.append(BAD_LINES[case][0])
        expected[len(lines)] = BAD_LINES[case][1]
    lines.append(valid(len(BAD_LINES)))
    log = write_lines(tmp_path / "all.jsonl", lines)

    summary = ingest(store, [log], "all", progress=False)
    assert summary.n_requests == len(BAD_LINES) + 1
    assert store.requests("all")["request_id"].to_list() == [f"ok-{i}" for i in range(len(BAD_LINES) + 1)]
    quarantine = store.quarantine("all")
    assert quarantine["line"].to_list() == sorted(expected)
    for line, reason in zip(quarantine["line"], quarantine["reason"], strict=True):
        assert re.search(expected[line], reason), (line, reason)


@pytest.mark.parametrize(
    ("value", "stored_input", "text"),
    [
        (5, '"5"', "5"),
        (True, '"true"', "true"),
        ({"question": "hi"}, '{"question": "hi"}', '{"question":"hi"}'),  # as compact JSON, whichever reader
    ],
)
def test_a_non_string_input_is_kept_as_text(
    store: Store, tmp_path: Path, value: Any, stored_input: str, text: str
) -> None:
    """An input that is neither a string nor {"messages": [...]} is not malformed: it is kept, as text."""
    log = write_lines(tmp_path / "odd.jsonl", [valid(0), record(request_id="odd", input=value)])
    ingest(store, [log], "odd", strict=True, progress=False)
    row = store.requests("odd").row(1, named=True)
    assert (row["request_id"], json.loads(row["input"]), row["input_text"]) == ("odd", json.loads(stored_input), text)


@pytest.mark.parametrize(("request_id", "stored"), [(42, "42"), (7.5, "7.5")])
def test_a_numeric_request_id_is_accepted_as_its_string(
    store: Store, tmp_path: Path, request_id: float, stored: str
) -> None:
    log = write_lines(tmp_path / "ids.jsonl", [valid(0), record(request_id=request_id, input="x")])
    ingest(store, [log], "ids", strict=True, progress=False)
    assert store.requests("ids")["request_id"].to_list() == ["ok-0", stored]


def test_fifty_megabyte_line_is_quarantined_with_its_size_and_a_bounded_prefix(store: Store, tmp_path: Path) -> None:
    """Regression: the size limit was only checked on the slow path, so a huge but valid line was
    ingested. A 50 MiB line is no request: it is set aside with its size and the limit, only its
    first bytes are kept, and the lines around it are ingested."""
    log = tmp_path / "huge.jsonl"
    with open(log, "wb") as f:
        f.write(valid(0) + b"\n" + valid(1) + b"\n")
        f.write(b'{"request_id": "huge", "input": "' + b"a" * (50 * MiB) + b'"}\n')
        f.write(valid(2) + b"\n")
    size = 50 * MiB + len(b'{"request_id": "huge", "input": ""}')

    with pytest.raises(IngestError, match=rf"{re.escape(str(log))}:3: line is 50\.0 MiB, over the 32\.0 MiB limit"):
        ingest(store, [log], "huge", strict=True, progress=False)
    assert table_counts(store) == NOTHING

    summary = ingest(store, [log], "huge", progress=False)
    assert (summary.n_requests, summary.n_quarantined) == (3, 1)
    assert store.requests("huge")["request_id"].to_list() == ["ok-0", "ok-1", "ok-2"]
    row = store.quarantine("huge").row(0, named=True)
    assert row["line"] == 3 and row["reason"] == "line is 50.0 MiB, over the 32.0 MiB limit for one record"
    assert row["raw_bytes"] == size
    assert len(row["raw"]) == RAW_PREFIX_BYTES and row["raw"].startswith('{"request_id": "huge"')


@pytest.mark.parametrize("final_newline", [True, False])
def test_a_huge_line_is_read_past_in_bounded_memory(tmp_path: Path, final_newline: bool) -> None:
    """Regression: a line was accumulated whole in memory however long it was. Now a line over the
    limit is streamed past: memory stays near block + limit, not the line's 48 MiB."""
    log = tmp_path / "runaway.jsonl"
    with open(log, "wb") as f:
        f.write(valid(0) + b"\n")
        f.write(b'{"request_id": "runaway", "input": "' + b"x" * (48 * MiB))
        f.write(b'"}\n' + valid(1) + b"\n" if final_newline else b"")
    reader = JsonlReader(block_bytes=MiB, max_line_bytes=2 * MiB)

    tracemalloc.start()
    try:
        batches = list(reader.read(log, hashlib.sha256(), 0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB"
    rows = pl.concat([b.frame for b in batches])
    assert rows["request_id"].to_list() == (["ok-0", "ok-1"] if final_newline else ["ok-0"])
    assert rows["_line"].to_list() == ([1, 3] if final_newline else [1])
    [bad] = [m for b in batches for m in b.malformed]
    assert bad.line == 2 and bad.reason.startswith("line is 48.0 MiB, over the 2.0 MiB limit")
    assert bad.raw is not None and len(bad.raw) == RAW_PREFIX_BYTES


def test_line_over_the_limit_inside_a_block_is_set_aside(tmp_path: Path) -> None:
    """Regression: within a block polars accepted a valid line of any size; the limit holds there too."""
    long_line = record(request_id="long", input="y" * 10_000)
    log = write_lines(tmp_path / "long.jsonl", [valid(0), long_line, valid(1)])
    [batch] = JsonlReader(block_bytes=MiB, max_line_bytes=4096).read(log, hashlib.sha256(), 0)
    assert batch.frame["request_id"].to_list() == ["ok-0", "ok-1"]
    assert batch.frame["_line"].to_list() == [1, 3]
    [bad] = batch.malformed
    assert (bad.line, bad.reason) == (2, "line is 9.8 KiB, over the 4.0 KiB limit for one record")


def test_block_with_a_bad_line_keeps_nested_values_exact(store: Store, tmp_path: Path) -> None:
    """Regression: a block holding one malformed line was parsed without repairing polars' writing of
    nested values, so a backslash or a quoted key in any other line of it failed the whole ingest
    with a DuckDB error (and could have changed values)."""
    tricky = {"path": "C:\\Users\\jane", "tab": "a\tb", 'say "hi"': 1}
    log = write_lines(tmp_path / "tricky.jsonl", [
        record(request_id="t1", input="x", metadata=tricky,
               captured={"output": "ok", "tool_calls": [{"name": "open", "arguments": {"file": "C:\\a"}}]}),
        b"{oops", valid(0)])  # fmt: skip
    summary = ingest(store, [log], "tricky", progress=False)
    assert (summary.n_requests, summary.n_quarantined) == (2, 1)
    assert json.loads(store.requests("tricky")["metadata"][0]) == tricky
    assert json.loads(store.captured("tricky")["tool_calls"][0])[0]["arguments"] == {"file": "C:\\a"}


def test_one_bad_line_does_not_parse_the_block_line_by_line_with_polars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the slow path called polars once per line (14 s for a 45 MB block with one bad
    line); now Python's parser checks the lines and polars parses the good ones together."""
    calls: list[int] = []
    read_ndjson = pl.read_ndjson

    def counted(*args: Any, **kwargs: Any) -> pl.DataFrame:
        calls.append(1)
        return read_ndjson(*args, **kwargs)

    monkeypatch.setattr(pl, "read_ndjson", counted)
    log = write_lines(tmp_path / "mostly.jsonl", [*(valid(i) for i in range(500)), b"{oops", valid(500)])
    [batch] = JsonlReader().read(log, hashlib.sha256(), 0)
    assert batch.frame.height == 501 and [m.line for m in batch.malformed] == [501]
    assert len(calls) == 2


def test_bom_and_crlf_line_endings(store: Store, tmp_path: Path) -> None:
    """A BOM and CRLF endings are read as a plain file; a truncated line among CRLF lines is named
    for what it is (regression: its \\r made the reason an "invalid control character")."""
    log = tmp_path / "windows.jsonl"
    write_lines(
        log, [b"\xef\xbb\xbf" + valid(0), valid(1), b'{"request_id": "t", "input": "cut', valid(2)], newline=b"\r\n"
    )
    summary = ingest(store, [log], "crlf", progress=False)
    assert (summary.n_requests, summary.n_quarantined) == (3, 1)
    assert store.requests("crlf")["line"].to_list() == [1, 2, 4]
    row = store.quarantine("crlf").row(0, named=True)
    assert row["line"] == 3 and row["reason"].startswith("invalid JSON: Unterminated string")
    assert row["raw"] == '{"request_id": "t", "input": "cut'


def test_gzip_not_named_gz_is_ingested_with_its_line_numbers(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "export.log"
    log.write_bytes(gzip.compress(b"\n".join([valid(0), b"{not json", valid(1)]) + b"\n"))
    summary = ingest(store, [log], "gz", progress=False)
    assert (summary.n_requests, summary.n_quarantined) == (2, 1)
    assert store.requests("gz")["line"].to_list() == [1, 3]
    assert store.quarantine("gz")["line"].to_list() == [2]


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_damaged_gzip_is_an_error_naming_the_file(store: Store, tmp_path: Path, damage: str) -> None:
    """Regression: a truncated or corrupted gzip raised a bare EOFError or zlib.error."""
    packed = gzip.compress(b"\n".join(valid(i) for i in range(20_000)) + b"\n", mtime=0)
    log = tmp_path / "rotated.jsonl.gz"
    log.write_bytes(packed[: len(packed) // 2] if damage == "truncated" else packed[:200] + bytes(400) + packed[600:])
    with pytest.raises(IngestError, match=rf"^{re.escape(str(log))}: damaged gzip data"):
        ingest(store, [log], "gz", progress=False)
    assert table_counts(store) == NOTHING


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\r\n  \n", "the file is empty"),
        (b"\xef\xbb\xbf", "the file is empty"),
        (gzip.compress(b""), "the file is empty"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8, "cannot tell the log format from its content"),
    ],
    ids=["empty", "blank_lines", "bom_only", "empty_gzip", "binary"],
)
def test_whole_file_problems_name_the_file(store: Store, tmp_path: Path, content: bytes, message: str) -> None:
    log = tmp_path / "capture.jsonl"
    log.write_bytes(content)
    with pytest.raises(IngestError, match=rf"^{re.escape(str(log))}: {message}"):
        ingest(store, [log], "whole", progress=False)
    assert table_counts(store) == NOTHING


def test_csv_malformed_rows(store: Store, tmp_path: Path) -> None:
    """CSV: invalid UTF-8 and ragged rows are set aside with their first line; a quoted field spanning
    lines keeps the next rows' line numbers right. Regressions: a real U+FFFD character was taken for
    invalid UTF-8, and a quoted field the file ends inside of (a truncated export) was accepted,
    swallowing the rows after it."""
    path = tmp_path / "log.csv"
    path.write_bytes(
        b"request_id,input,metadata\r\n"
        b'c1,"two\r\nlines",\r\n'  # lines 2-3
        b"c2,caf\xe9,\r\n"  # 4: invalid UTF-8
        + "c3,replacement \ufffd is a character,\r\n".encode()  # 5
        + b"c4,one,too,many\r\n"  # 6: ragged
        b'c5,"cut off here,\r\n'  # 7: the file ends inside this quote
        b"c6,after the cut,\r\n"  # 8
    )
    summary = ingest(store, [path], "csv", progress=False)
    assert summary.n_requests == 3
    requests = store.requests("csv")
    assert requests["request_id"].to_list() == ["c1", "c3", "c6"]
    assert requests["line"].to_list() == [2, 5, 8]
    assert requests["input_text"][1] == "replacement \ufffd is a character"
    reasons = dict(zip(store.quarantine("csv")["line"], store.quarantine("csv")["reason"], strict=True))
    assert reasons == {
        4: "invalid UTF-8 (byte 0xe9)",
        6: "row has 4 fields, the header has 3",
        7: "unterminated quoted field: the file ends inside it",
    }


def test_cli_ingest_strict_fails_with_file_and_line(tmp_path: Path) -> None:
    """Through the CLI, two kinds of bad line: strict exits 1 naming file:line on stderr; without it
    the ingest exits 0 and the summary counts both the requests and the malformed lines."""
    db = str(tmp_path / "h.duckdb")
    log = write_lines(
        tmp_path / "cli.jsonl", [valid(0), BAD_LINES["truncated"][0], valid(1), BAD_LINES["invalid_utf8"][0], valid(2)]
    )
    strict = run_harness("ingest", str(log), "--name", "d", "--strict", "--db", db, timeout=60)
    assert strict.returncode == 1, strict.stderr
    assert f"{log}:2: invalid JSON: Unterminated string" in strict.stderr
    assert f"{log}:4: invalid UTF-8" in strict.stderr
    assert "Traceback" not in strict.stderr

    lenient = run_harness("ingest", str(log), "--name", "d", "--db", db, timeout=60)
    assert lenient.returncode == 0, lenient.stderr
    assert "3 requests" in lenient.stdout and "2 malformed lines set aside" in lenient.stdout
    assert f"{log}:2:" in lenient.stderr and f"{log}:4:" in lenient.stderr


# --- configs ---------------------------------------------------------------------------------

PROD = '[agents.prod]\nkind = "python"\ncallable = "agents:answer"\n'

# A config snippet and the error after "<file>: " (a regular expression).
BAD_CONFIGS: dict[str, tuple[str, str]] = {
    "unknown_section": ("[replayy]\nconcurrency = 3\n", r"replayy: unknown key"),
    "unknown_replay_key": ("[replay]\nconcurency = 3\n", r"replay\.concurency: unknown key"),
    "wrong_type": ("[replay]\nconcurrency = 'lots'\n", r"replay\.concurrency: Input should be a valid integer"),
    # Regression: TOML values are typed, yet true was taken for 1 and "8" for 8.
    "bool_for_int": ("[replay]\nconcurrency = true\n", r"replay\.concurrency: Input should be a valid integer"),
    "string_for_int": ("[replay]\nrepeats = '3'\n", r"replay\.repeats: Input should be a valid integer"),
    "out_of_range": ("[replay]\nprod_repeat_fraction = 1.5\n",
                     r"replay\.prod_repeat_fraction: Input should be less than or equal to 1"),
    # Regression: canary steps (percent of users) were not checked at all.
    "canary_step_out_of_range": ("[canary]\nsteps = [5, 50, 200]\n",
                                 r"canary\.steps\.2: Input should be less than or equal to 100"),
    "unknown_agent_kind": ('[agents.prod]\nkind = "carrier-pigeon"\n', r"agents\.prod: Input tag 'carrier-pigeon'"),
    "missing_agent_key": ('[agents.candidate]\nkind = "http"\n', r"agents\.candidate\.url: Field required"),
    "missing_agent_kind": ('[agents.prod]\ncallable = "agents:answer"\n',
                           rf"agents\.prod\.kind: Field required \(kinds: {re.escape(', '.join(AGENT_KINDS))}\)"),
    # Regression: the unknown arm was reported at "(top level)" and in brackets the CLI swallowed.
    "unknown_arm": ('[agents.canary]\nkind = "python"\ncallable = "agents:answer"\n',
                    r"agents\.canary: unknown arm 'canary' \(arms are prod, prod_repeat, candidate\)"),
    "invalid_toml": ("[replay]\nconcurrency = 3\nseed =\n", r"not valid TOML: Invalid value \(at line 3, column 7\)"),
    # Regression: invalid UTF-8 gave a byte position, not a line.
    "invalid_utf8": ("[replay]\nseed = 1\n# caf\udce9\n", r"not valid TOML: invalid UTF-8 \(at line 3\)"),
    "profile_key": (PROD + "[profiles.fast.replay]\ntimeout_sec = 3\n",
                    r"profiles\.fast\.replay\.timeout_sec: unknown key"),
    "profile_arm": (PROD + "[profiles.fast.agents.canary]\nkind = 'captured'\n",
                    r"profiles\.fast\.agents\.canary: unknown arm 'canary'"),
    "unknown_gates_metric": ("[gates.checks.speed]\nmetric = 'latency'\nstatistic = 'p95'\nmax = 2000\n",
                             r"gates\.checks\.speed\.metric: unknown metric 'latency'"),
    "bad_redaction_regex": ("[redaction]\npatterns = { EMPLOYEE_ID = 'E(\\d{6}' }\n",
                            r"redaction\.patterns\.EMPLOYEE_ID: not a valid regular expression"),
}  # fmt: skip


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_names_file_and_key(tmp_path: Path, case: str) -> None:
    snippet, message = BAD_CONFIGS[case]
    path = write_config(tmp_path, snippet)
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: {message}"):
        load_config(path)


def test_unreadable_config_path_is_a_config_error(tmp_path: Path) -> None:
    """Regression: a directory given as the config raised a bare IsADirectoryError."""
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(tmp_path))}: cannot read the config file"):
        load_config(tmp_path)


@pytest.mark.parametrize("case", ["unknown_arm", "invalid_toml"])
def test_cli_replay_with_bad_config_prints_the_error(tmp_path: Path, case: str) -> None:
    snippet, message = BAD_CONFIGS[case]
    path = write_config(tmp_path, snippet)
    result = run_harness("replay", "--config", str(path), "--db", str(tmp_path / "h.duckdb"), timeout=60)
    assert result.returncode == 1
    assert re.search(rf"^error: {re.escape(str(path))}: {message}", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
