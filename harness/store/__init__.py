"""The DuckDB store: schema, migrations and every SQL string. Only this package imports duckdb."""

from harness.store.datasets import DatasetSummary, DatasetWriter
from harness.store.store import DEFAULT_DB, Store, open_store, resolve_db_path

__all__ = ["Store", "open_store", "resolve_db_path", "DEFAULT_DB", "DatasetSummary", "DatasetWriter"]
