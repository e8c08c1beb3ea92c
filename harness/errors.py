"""The harness's exceptions.

Failed gates are results, not exceptions: these are for broken inputs and faults.
Exceptions of underlying libraries (aiohttp, openai, duckdb, pydantic) are translated
into this tree at the boundary where they happen.

    HarnessError
    ├── ConfigError            a config file or option is invalid; names file and key
    ├── IngestError            a captured log cannot be ingested (strict mode, duplicates, ...)
    │   └── DatasetExistsError the dataset name holds different content (use --replace)
    ├── StoreError             the DuckDB file cannot be opened or used, or is of an unknown version
    │   ├── StoreLockedError   another process held the file longer than we would wait
    │   ├── StoreFullError     the disk is full (DuckDB's own message is kept)
    │   ├── StoreConflictError a row that must be unique already exists (a run id taken at the same moment)
    │   └── StoreDataError     a value could not be stored (the rest of its batch can be)
    ├── NotFoundError          a dataset or run that is not in the store
    ├── ReplayError            a run cannot start or resume (plan changed, dataset missing, already running)
    │   └── PreflightError     an agent could not answer the call made before a replay
    ├── IncompleteRunError     a run that did not finish is gated or reported without allow_incomplete
    ├── ScoringError           the executor could not encode every text (a Ray cluster gone); rerun resumes
    └── AgentError             one agent call failed; recorded on the response, never raised past replay
        ├── AgentTimeout           no complete answer within the timeout         error_type "timeout"
        ├── AgentConnectionError   refused, reset or dropped connection          error_type "connection_error"
        ├── AgentHTTPError         non-2xx status (429 and 5xx are retried)      error_type "rate_limited" / "http_error"
        ├── AgentBadResponse       an answer that is not what was promised       error_type "bad_response"
        ├── AgentFailure           the agent itself reported or raised an error  error_type "agent_error"
        │   └── AgentUnavailable   the agent could not be started at all (a missing command)
        ├── AgentCancelled         stopped by the user or the budget             error_type "cancelled"
        └── ToolCallError          the tool sandbox refused a call (a miss under `error`, a live failure)
                                                                                  error_type "tool_error"
"""

from __future__ import annotations

__all__ = [
    "HarnessError",
    "ConfigError",
    "IngestError",
    "DatasetExistsError",
    "StoreError",
    "StoreLockedError",
    "StoreFullError",
    "StoreConflictError",
    "StoreDataError",
    "IncompleteRunError",
    "NotFoundError",
    "ReplayError",
    "PreflightError",
    "ScoringError",
    "AgentError",
    "AgentTimeout",
    "AgentConnectionError",
    "AgentHTTPError",
    "AgentBadResponse",
    "AgentFailure",
    "ToolCallError",
    "AgentUnavailable",
    "AgentCancelled",
]


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """A config file or option is invalid."""


class IngestError(HarnessError):
    """A captured log cannot be ingested as asked."""


class DatasetExistsError(IngestError):
    """A dataset of that name already holds different content."""


class StoreError(HarnessError):
    """The DuckDB store cannot be used."""


class StoreLockedError(StoreError):
    """Another process held the DuckDB file for longer than the wait allowed."""


class StoreFullError(StoreError):
    """The disk holding the DuckDB file is full."""


class StoreConflictError(StoreError):
    """A row that must be unique already exists."""


class StoreDataError(StoreError):
    """A value could not be stored: the store rejected the data, not the disk or the lock."""


class NotFoundError(HarnessError):
    """A named dataset or run is not in the store."""


class ReplayError(HarnessError):
    """A run cannot start or resume."""


class PreflightError(ReplayError):
    """An agent could not answer the call made before a replay; nothing was replayed."""


class IncompleteRunError(HarnessError):
    """A run stopped before the end (budget, interrupt, failure) was asked for a verdict or a report."""


class ScoringError(HarnessError):
    """Scoring could not finish (its executor failed); what was saved stays, and a rerun resumes from it."""


class AgentError(HarnessError):
    """One agent call failed. `error_type` is what lands in the responses table."""

    error_type = "agent_error"
    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AgentTimeout(AgentError):
    error_type = "timeout"
    retryable = True


class AgentConnectionError(AgentError):
    error_type = "connection_error"
    retryable = True


class AgentHTTPError(AgentError):
    """A non-2xx HTTP status; 408, 429 and 5xx are worth retrying."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}", retry_after=retry_after)
        self.status = status
        self.retryable = status in (408, 409, 429) or status >= 500
        self.error_type = "rate_limited" if status == 429 else "http_error"


class AgentBadResponse(AgentError):
    error_type = "bad_response"


class AgentFailure(AgentError):
    error_type = "agent_error"


class AgentUnavailable(AgentFailure):
    """The agent could not be started at all: every call would fail the same way (the preflight stops on it)."""


class AgentCancelled(AgentError):
    error_type = "cancelled"


class ToolCallError(AgentError):
    """The tool sandbox answered a call with an error: no recording matched under `on_miss = "error"`,
    or a live endpoint failed. An agent may catch it and go on; uncaught, it is the request's error."""

    error_type = "tool_error"
