"""`captured` agents: answer with what the log already holds for a variant; no calls at all.

Latency, tokens and cost come from the log (never invented): a replay over captured
variants compares shadow or canary traffic exactly as a live replay would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, Literal

from harness.agents.base import Agent, AgentContext, AgentSettings, CallContext
from harness.errors import AgentFailure, ConfigError
from harness.records import AgentResult, Request, ToolCall, Usage

__all__ = ["AGENT", "CapturedAgent", "CapturedAgentConfig"]


class CapturedAgentConfig(AgentSettings):
    kind: Literal["captured"]
    variant: str = "prod"
    """Which captured variant in the dataset answers for this arm."""


class CapturedAgent(Agent):
    kind = "captured"
    config_model = CapturedAgentConfig
    measures_latency = False
    uses_tool_endpoint = False

    def __init__(self, config: CapturedAgentConfig, context: AgentContext) -> None:
        super().__init__(config.model)
        if context.store is None or context.dataset is None:
            raise ConfigError("a captured agent needs a store and a dataset")
        self._store = context.store
        self._dataset = context.dataset
        self.variant = config.variant
        # Two generations of prefetched answers: the chunk being scheduled and the one before,
        # whose calls may still be in flight.
        self._current: dict[str, AgentResult] = {}
        self._previous: dict[str, AgentResult] = {}

    async def prepare(self, request_ids: Sequence[str]) -> None:
        rows = await asyncio.to_thread(self._store.captured_rows, self._dataset, self.variant, list(request_ids))
        self._previous, self._current = self._current, {row["request_id"]: _result(row) for row in rows.to_dicts()}

    async def call(self, request: Request, context: CallContext) -> AgentResult:
        result = self._current.get(request.request_id) or self._previous.get(request.request_id)
        if result is None:
            raise AgentFailure(f"the log holds no {self.variant!r} output for request {request.request_id!r}")
        return result


def _result(row: dict[str, Any]) -> AgentResult:
    calls = json.loads(row["tool_calls"]) if row.get("tool_calls") else []
    return AgentResult(
        output=row.get("output"),
        tool_calls=tuple(ToolCall.from_mapping(c) for c in calls if isinstance(c, dict) and c.get("name")),
        usage=Usage(row.get("input_tokens"), row.get("output_tokens"), row.get("cached_input_tokens")),
        cost_usd=row.get("cost_usd"),
        model=row.get("model"),
        error_type=row.get("error_type"),
        error_message=row.get("error_message"),
        latency_ms=row.get("latency_ms"),
    )


AGENT = CapturedAgent
