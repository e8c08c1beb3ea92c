"""The schema, as numbered migrations recorded in `schema_migrations`.

Each migration runs once, in order, inside one transaction with its record. To change
the schema, append a migration to harness.store.schema_later; never edit one that has shipped.
"""

from __future__ import annotations

import duckdb

from harness.store.connection import one
from harness.store.schema_first import FIRST
from harness.store.schema_later import LATER

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "current_version"]

MIGRATIONS: list[tuple[int, str, str]] = [*FIRST, *LATER]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest applied migration, 0 for an empty file."""
    exists = one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'")
    if not exists or not exists[0]:
        return 0
    row = one(con, "SELECT coalesce(max(version), 0) FROM schema_migrations")
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every missing migration; returns the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    have = current_version(con)
    applied = []
    for version, name, sql in MIGRATIONS:
        if version <= have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
