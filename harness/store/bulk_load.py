"""Canonical JSON Lines loaded by DuckDB's own JSON reader, a block of lines at a time.

DuckDB parses a block (its files) into Arrow on a connection of its own (in the thread that
reads the next block while this one is inserted) and the shared SQL
(harness.store.normalize) turns it into requests and captured, so a well-formed block never passes
through Python objects. Parsing on its own connection keeps a refused block from aborting the
writer's open transaction, so one transaction spans several blocks: DuckDB then writes whole row
groups straight to the database file instead of once to its log and again at the checkpoint.
DuckDB's parser is more lenient than the JSON standard (nan and inf in any case, trailing commas,
unlimited nesting) and skips blank lines; a block where any of that may be at play, or one DuckDB refuses,
is left to the line-by-line reader, which names every bad line.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from harness.store.connection import arrow_array, registered
from harness.store.datasets import DatasetWriter
from harness.store.normalize import CAPTURED_TYPE

__all__ = ["DEEP", "brackets", "insert_json_block", "lenient", "lenient_text", "parser_for", "stage_json_block"]

_COLUMNS = ("{request_id: 'VARCHAR', timestamp: 'VARCHAR', user_id: 'VARCHAR', session_id: 'VARCHAR',"
            " input: 'JSON', metadata: 'JSON', reference: 'JSON', captured: '%s'}")
_NESTED = ("input", "metadata", "reference", "captured")
_ALL = ("request_id", "timestamp", "user_id", "session_id", *_NESTED)
DEEP = 400
"""Brackets in one value from which its nesting may be too deep for Python's parser (about 1,000
levels): such a block is checked line by line, where Python decides."""

# Byte patterns that DuckDB's parser accepts and the JSON standard does not: a trailing comma, and
# a non-finite number (nan, inf, infinity in any case, signed) where a value starts. Each pattern
# begins with a literal byte, which keeps the scan of a block at memchr speed; one that matches
# inside a string ("x, nan.") only sends its block the slower way.
_NON_FINITE = r"-?(?:[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)(?:[^a-zA-Z0-9_]|$)"


def lenient(column: str) -> str:
    """True for JSON text that may hold what only DuckDB's parser accepts (a trailing comma, a
    non-finite number)."""
    return (rf"(regexp_matches({column}, ',[ \t\r\n]*(?:[\]}}]|{_NON_FINITE})')"
            rf" OR regexp_matches({column}, ':[ \t\r\n]*{_NON_FINITE}')"
            rf" OR regexp_matches({column}, '\[[ \t\r\n]*{_NON_FINITE}'))")


def _text(column: str) -> str:
    """A JSON value as the text the normalizing SQL expects: a string unquoted, anything else as JSON."""
    return (f"CASE WHEN starts_with({column}, '{{') OR starts_with({column}, '[') THEN {column}::VARCHAR"
            f" ELSE {column}->>'$' END AS {column}")


def brackets(column: str) -> str:
    """True for a long value with many brackets: possibly nested deeper than Python reads."""
    return (f"CASE WHEN strlen({column}) > {2 * DEEP} THEN strlen({column}) - strlen(replace(replace({column}::VARCHAR,"
            f" '[', ''), '{{', '')) > {DEEP} ELSE false END")


def _brackets_in_list(column: str) -> str:
    """brackets() for a list of JSON values, counted over all of them (without serializing the list)."""
    return (f"CASE WHEN list_sum(list_transform({column}, lambda v: strlen(v))) > {2 * DEEP} THEN list_sum("
            f"list_transform({column}, lambda v: strlen(v) - strlen(replace(replace(v::VARCHAR, '[', ''), '{{', ''))))"
            f" >= {DEEP} ELSE false END")


def stage_json_block(parser: duckdb.DuckDBPyConnection, files: list[Path], *, n_lines: int, max_line_bytes: int,
                     typed_captured: bool) -> pa.Table | None:
    """A block's records (its files, in order) parsed by DuckDB on `parser`, a connection of the
    writer's database other than its own (it may run in another thread while the writer inserts);
    None when the block must be read another way. With `typed_captured` the captured objects are
    parsed straight into their type: faster, but a block where one is a list (several variants) or
    of another shape is refused, to be read with captured as JSON."""
    columns = _COLUMNS % (CAPTURED_TYPE if typed_captured else "JSON")
    try:
        staged = parser.sql(f"SELECT * FROM read_json(?, format = 'newline_delimited', columns = {columns},"
                            " maximum_object_size = ?)", params=[[str(f) for f in files], max_line_bytes + 2]
                            ).to_arrow_table()
        if staged.num_rows != n_lines or _lenient(parser, staged, files, typed_captured):
            return None  # blank lines, or what only DuckDB accepts
    except duckdb.Error:
        return None
    return staged.append_column("_n", arrow_array(np.arange(n_lines)))  # Arrow has no rowid


def insert_json_block(writer: DatasetWriter, staged: pa.Table, *, source: str, first_line: int, seq: int,
                      typed_captured: bool) -> list[tuple[int, str]]:
    """Insert a staged block's records through the writer; the (line, reason) of the rows refused."""
    con = writer.connection
    # metadata stays JSON (the text DuckDB wrote): cast to text, the insert would validate it again
    texts = ", ".join(_text(c) if c in ("input", "reference") else c if c == "metadata" or (c == "captured" and typed_captured)
                      else f"{c}::VARCHAR AS {c}" if c in _NESTED else c for c in _ALL)
    n_lines = staged.num_rows
    with registered(con, "_stage", staged):
        con.execute(f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT {texts}, _n + {int(first_line)} AS _line,"
                    f" _n + {int(seq)} AS _seq FROM _stage")
        bad = writer.insert_raw(", ".join(_ALL), True, source, f"lines {first_line}-{first_line + n_lines - 1}",
                                n_lines, typed_captured)
        con.execute("DROP VIEW _raw")
    return bad


def parser_for(writer: DatasetWriter) -> duckdb.DuckDBPyConnection:
    """A connection to the writer's database for parsing blocks: its failures leave the writer's
    open transaction alone, and it may work in another thread."""
    parser = writer.connection.cursor()
    parser.execute("SET arrow_lossless_conversion = true")  # JSON values stay JSON through Arrow
    return parser


def _lenient(parser: duckdb.DuckDBPyConnection, staged: pa.Table, files: list[Path], typed_captured: bool) -> bool:
    """True when the staged block may hold what only DuckDB's parser accepts."""
    values = ["input", "metadata", "reference"] + (["captured.error"] if typed_captured else ["captured"])
    deep = " OR ".join([brackets(v) for v in values] + ([_brackets_in_list("captured.tool_calls")] if typed_captured else []))
    with registered(parser, "_stage", staged):
        if parser.execute(f"SELECT count(*) FROM _stage WHERE {deep}").fetchall()[0][0]:
            return True
    return lenient_text(parser, files)


def lenient_text(parser: duckdb.DuckDBPyConnection, files: list[Path]) -> bool:
    """True when the files' text may hold what only DuckDB's parser accepts."""
    return bool(parser.execute(f"SELECT bool_or({lenient('content')}) FROM read_text(?)",
                               [[str(f) for f in files]]).fetchall()[0][0])
