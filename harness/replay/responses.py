"""From one call's outcome to the Response the store keeps: validated, priced, limited.

The answer is made storable (or becomes that request's bad_response), its numbers are checked
against harness.limits (unbelieved ones emptied and described), its cost comes from the agent or
the price table and is charged to the budget, the max_tool_calls limit is applied, and every
text is scrubbed of secrets before it is queued for writing.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from harness.agents import Agent
from harness.errors import AgentCancelled, StoreDataError
from harness.limits import MAX_COST_USD
from harness.pricing import PriceTable
from harness.records import AgentResult, Response, storable
from harness.replay.budget import Budget
from harness.replay.plan import Call
from harness.retry import Attempted
from harness.secrets import scrub

__all__ = ["to_response", "fault_response", "rejected_response"]


def to_response(run_id: str, call: Call, agent: Agent, outcome: Attempted[AgentResult], started_at: datetime, *,
                prices: PriceTable, budget: Budget, max_tool_calls: int | None) -> Response:
    harness_cancelled = isinstance(outcome.error, AgentCancelled)
    if outcome.error is not None:
        result = AgentResult(error_type=outcome.error.error_type, error_message=str(outcome.error)[:2000])
        latency = None if harness_cancelled else outcome.latency_ms
    else:
        result = storable(outcome.value or AgentResult()).validated()
        latency = outcome.latency_ms if agent.measures_latency else result.latency_ms
    invalid = dict(item.split("=", 1) for item in result.invalid)
    cost = prices.cost(result, agent.model)
    if cost is not None and not 0 <= cost <= MAX_COST_USD:
        invalid["cost_usd"] = f"{cost!r} (from the price table, outside 0 to {MAX_COST_USD:,.0f})"
        cost = None
    believed = "cost_usd" not in invalid
    budget.charge(cost, believed=believed)
    error_type, error_message = result.error_type, result.error_message
    n_calls = len(result.tool_calls)
    if error_type is None and max_tool_calls is not None and n_calls > max_tool_calls:
        error_type, error_message = "max_tool_calls", f"{n_calls} tool calls, over the limit of {max_tool_calls}"
    usage = result.usage
    return Response(
        run_id, call.request.request_id, call.arm, call.sample, scrub(result.output),
        scrub(json.dumps([c.to_dict() for c in result.tool_calls], ensure_ascii=False, default=str)) or "[]",
        n_calls, usage.input_tokens, usage.output_tokens, usage.cached_input_tokens, cost if believed else None,
        latency, scrub(result.model or agent.model), error_type, scrub(error_message), outcome.attempts, started_at,
        datetime.now(UTC), harness_cancelled, json.dumps(invalid) if invalid else None,
    )  # fmt: skip


def fault_response(run_id: str, call: Call, exc: BaseException) -> Response:
    """Something failed while handling one answer: that request's bad_response, saying what."""
    message = scrub(f"the answer could not be processed: {type(exc).__name__}: {exc}"[:2000]) or ""
    now = datetime.now(UTC)
    return Response(run_id, call.request.request_id, call.arm, call.sample, None, "[]", 0, None, None, None, None,
                    None, None, "bad_response", message.encode("utf-8", "replace").decode("utf-8"), 1, now, now)


def rejected_response(response: Response, exc: StoreDataError) -> Response:
    """A response the store would not take, as its request's bad_response (latency and timing kept)."""
    return dataclasses.replace(
        response, output=None, tool_calls="[]", n_tool_calls=0, input_tokens=None, output_tokens=None,
        cached_input_tokens=None, cost_usd=None, model=None, error_type="bad_response",
        error_message=scrub(f"the answer could not be stored: {exc}"[:2000]), harness_cancelled=False,
        invalid_values=None)
