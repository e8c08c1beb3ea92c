"""Canonical JSON Lines loaded by DuckDB's own JSON reader, a block of lines at a time.

DuckDB parses a block file into a staging table and the shared SQL (harness.store.normalize)
turns it into requests and captured, so a well-formed block never passes through Python
objects. DuckDB's parser is more lenient than the JSON standard (NaN, Infinity, trailing commas,
unlimited nesting) and skips blank lines; a block where any of that may be at play, or one DuckDB
refuses, is left to the line-by-line reader, which names every bad line.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from harness.store.datasets import DatasetWriter

__all__ = ["load_json_block"]

_COLUMNS = ("{request_id: 'VARCHAR', timestamp: 'VARCHAR', user_id: 'VARCHAR', session_id: 'VARCHAR',"
            " input: 'JSON', metadata: 'JSON', reference: 'JSON', captured: 'JSON'}")
_NESTED = ("input", "metadata", "reference", "captured")
_ALL = ("request_id", "timestamp", "user_id", "session_id", *_NESTED)
_DEEP = 400
"""Brackets in one value from which its nesting may be too deep for Python's parser (about 1,000
levels): such a block is checked line by line, where Python decides."""

# Byte patterns that DuckDB's parser accepts and the JSON standard does not.
_LENIENT = r"contains(content, 'NaN') OR contains(content, 'Infinity') OR regexp_matches(content, ',[ \t\r\n]*[\]}]')"


def _text(column: str) -> str:
    """A JSON value as the text the normalizing SQL expects: a string unquoted, anything else as JSON."""
    return (f"CASE WHEN starts_with({column}, '{{') OR starts_with({column}, '[') THEN {column}::VARCHAR"
            f" ELSE {column}->>'$' END AS {column}")


def _brackets(column: str) -> str:
    return (f"(length({column}) > {2 * _DEEP} AND length({column}) - length(replace(replace({column}::VARCHAR,"
            f" '[', ''), '{{', '')) > {_DEEP})")


def load_json_block(writer: DatasetWriter, file: Path, *, source: str, first_line: int, n_lines: int, seq: int,
                    max_line_bytes: int) -> list[tuple[int, str]] | None:
    """Insert a block file's records through the writer; the (line, reason) of the rows refused, or
    None (nothing written) when the block must be read line by line instead."""
    con = writer.connection
    writer.commit()  # a read_json that fails aborts the transaction it runs in
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _stage AS SELECT * FROM read_json(?, format = 'newline_delimited',"
            f" columns = {_COLUMNS}, maximum_object_size = ?)", [str(file), max_line_bytes + 2])
        rows = con.execute("SELECT count(*) FROM _stage").fetchall()[0][0]
        if rows != n_lines or _lenient(con, file):  # blank lines, or values only DuckDB accepts
            con.execute("DROP TABLE _stage")
            return None
    except duckdb.Error:
        return None
    texts = ", ".join(_text(c) if c in ("input", "reference") else f"{c}::VARCHAR AS {c}" if c in _NESTED
                      else c for c in _ALL)
    con.execute(f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT {texts}, rowid + {int(first_line)} AS _line,"
                f" rowid + {int(seq)} AS _seq FROM _stage")
    bad = writer.insert_raw(", ".join(_ALL), True, source, f"lines {first_line}-{first_line + n_lines - 1}", rows)
    con.execute("DROP VIEW _raw")
    con.execute("DROP TABLE _stage")
    return bad


def _lenient(con: duckdb.DuckDBPyConnection, file: Path) -> bool:
    """True when the staged block may hold what only DuckDB's parser accepts."""
    deep = " OR ".join(_brackets(c) for c in _NESTED)
    if con.execute(f"SELECT count(*) FROM _stage WHERE {deep}").fetchall()[0][0]:
        return True
    return bool(con.execute(f"SELECT {_LENIENT} FROM read_text(?)", [str(file)]).fetchall()[0][0])
