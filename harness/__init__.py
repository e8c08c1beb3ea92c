"""Offline evaluation and shadow-replay harness for AI agents.

The Python API notebooks use:

    import harness
    store = harness.open_store("harness.duckdb", read_only=True)
    store.runs()                     # polars DataFrame
    store.responses(run_id)          # one row per (request, arm, sample)
"""

from harness.config import HarnessConfig, load_config
from harness.errors import HarnessError
from harness.gates import gate_run
from harness.ingest import ingest
from harness.records import AgentResult, Request, ToolCall, Usage
from harness.replay import replay
from harness.scoring import score_run
from harness.store import Store, open_store

__version__ = "0.1.0"

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
    "Request",
    "AgentResult",
    "ToolCall",
    "Usage",
    "HarnessError",
]
