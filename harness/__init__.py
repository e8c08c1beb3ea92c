"""Offline evaluation and shadow-replay harness for AI agents.

The Python API (what notebooks and scripts use); names are imported on first use, so
`import harness` costs nothing until you need a part:

    import harness
    store = harness.open_store("harness.duckdb", read_only=True)
    store.runs()                                  # polars DataFrame
    store.responses(run_id)                       # one row per (request, arm, sample)
    outcome = harness.release("harness.toml")     # replay -> score -> gate -> report
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness._lazy import lazy_names
from harness._version import __version__

if TYPE_CHECKING:
    from harness.config import HarnessConfig, load_config
    from harness.errors import HarnessError
    from harness.gates import gate_run
    from harness.ingest import ingest
    from harness.outcome import ReleaseOutcome
    from harness.pipeline import release
    from harness.records import AgentResult, Request, ToolCall, Usage
    from harness.replay import replay
    from harness.scoring import score_run
    from harness.store import Store, open_store

__all__ = [
    "__version__",
    "open_store",
    "Store",
    "load_config",
    "HarnessConfig",
    "ingest",
    "replay",
    "score_run",
    "gate_run",
    "release",
    "ReleaseOutcome",
    "Request",
    "AgentResult",
    "ToolCall",
    "Usage",
    "HarnessError",
]

_WHERE = {
    "open_store": "harness.store", "Store": "harness.store", "load_config": "harness.config",
    "HarnessConfig": "harness.config", "ingest": "harness.ingest", "replay": "harness.replay",
    "score_run": "harness.scoring", "gate_run": "harness.gates", "release": "harness.pipeline",
    "ReleaseOutcome": "harness.outcome", "Request": "harness.records", "AgentResult": "harness.records",
    "ToolCall": "harness.records", "Usage": "harness.records", "HarnessError": "harness.errors",
}  # fmt: skip


__getattr__ = lazy_names(__name__, _WHERE)


def __dir__() -> list[str]:
    return sorted(__all__)
