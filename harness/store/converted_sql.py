"""What the SQL conversions of log formats share (harness.store.langfuse_sql, openai_chat_sql): DuckDB
parses a block's lines into Arrow and converts the rows whose shape the SQL converts exactly as the
format's Python converter does (`_simple`), and the rows so marked are inserted through the same
normalizing SQL as every reader's (DatasetWriter.insert_raw).

The block is parsed on a connection of its own (harness.store.bulk_load.parser_for: a refused block
leaves the writer's transaction open, and the next block is parsed while this one is inserted).
DuckDB parses JSON text again on every function call, so the checks read a value's kind from its
first character wherever they can: DuckDB writes the JSON it parsed without leading whitespace.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from harness.store.bulk_load import lenient_text
from harness.store.connection import arrow_array, registered
from harness.store.datasets import DatasetWriter

__all__ = ["CANONICAL", "ISO_TIME", "JSON_LIKE", "id_text", "insert_converted", "number", "numeric", "plain",
           "stage_converted", "starts"]

CANONICAL = "request_id, timestamp, user_id, session_id, input, metadata, reference, captured"
# Text the Python converters would try to decode as JSON (values.json_value, values.decoded): it
# starts, after any whitespace Python's str.lstrip removes, with a bracket (or a quote).
JSON_LIKE = r"'^[\s\x0b\x1c-\x1f\x{85}\pZ]*[\[{\"]'"
ISO_TIME = r"'\d{4}-\d\d-\d\d[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)?'"
"""An ISO 8601 time that Python's datetime.fromisoformat reads as DuckDB's cast does."""


def starts(value: str, char: str) -> str:
    """The JSON value's kind from its first character: `{` an object, `[` a list, `"` a string."""
    return f"starts_with({value}, '{char}')"


def numeric(value: str) -> str:
    """A JSON number or boolean (values.number reads a boolean as missing)."""
    return f"regexp_matches({value}, '^[-0-9tf]')"


def number(value: str) -> str:
    """values.number of a JSON number or boolean: the finite numbers."""
    return (f"CASE WHEN regexp_matches({value}, '^[-0-9]') AND isfinite(try_cast({value} AS DOUBLE))"
            f" THEN {value}::DOUBLE END")


def plain(text: str) -> str:
    """True for text the converter keeps as it is (not JSON-looking)."""
    return f"NOT regexp_matches({text}, {JSON_LIKE})"


def id_text(value: str) -> str:
    """values.identifier of a JSON string or integer (other values: NULL, for the caller to leave
    to Python): a string as it is, an integer as its digits (`-0` would be `0` in Python)."""
    return (f"CASE WHEN {starts(value, chr(34))} THEN {value}->>'$'"
            f" WHEN regexp_full_match({value}, '0|-?[1-9][0-9]*') THEN {value}::VARCHAR END")


def stage_converted(parser: duckdb.DuckDBPyConnection, files: list[Path], n_lines: int, max_line_bytes: int,
                    columns: str, converted: str) -> pa.Table | None:
    """A block of `n_lines` lines (its files, in order) read by DuckDB with `columns` and converted
    by the query `converted` (which reads the lines `FROM _stage`): the canonical columns, `_simple`
    and `_n` (the row's line in the block); None when the block must go line by line to the Python
    converter (DuckDB refused it, it has blank lines, or it may hold what only DuckDB's parser accepts)."""
    read = (f"SELECT * FROM read_json(?, format = 'newline_delimited', columns = {columns},"
            " maximum_object_size = ?)")
    try:
        staged = parser.sql(converted.replace("FROM _stage", f"FROM ({read})"),
                            params=[[str(f) for f in files], max_line_bytes + 2]).to_arrow_table()
        if staged.num_rows != n_lines or lenient_text(parser, files):  # blank lines: rows are not lines
            return None
    except duckdb.Error:
        return None
    return staged.append_column("_n", arrow_array(np.arange(n_lines)))


def insert_converted(writer: DatasetWriter, staged: pa.Table, seqs: np.ndarray, n_rows: int, *, source: str,
                     first_line: int) -> None:
    """Insert the `n_rows` staged rows marked `_simple`, row i numbered `seqs[i]`."""
    con = writer.connection
    table = staged.append_column("_seq", arrow_array(seqs))
    with registered(con, "_stage", table):
        con.execute(f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT {CANONICAL}, _n + {int(first_line)} AS _line, _seq"
                    " FROM _stage WHERE _simple")
        bad = writer.insert_raw(CANONICAL, True, source, f"lines {first_line}-{first_line + staged.num_rows - 1}",
                                n_rows, typed_captured=True)
        con.execute("DROP VIEW _raw")
    if bad:  # `_simple` admits only rows the checks accept: a refusal here is a bug in it
        raise AssertionError(f"{source}: the SQL conversion refused converted rows: {bad[:3]}")
