"""One call with a timeout per attempt and retries with backoff: shared by replay and the judge.

Timeouts, connection errors, 429 and 5xx are retried with exponential backoff and full
jitter, honouring Retry-After up to a limit; everything else is final at once. A call that
would retry when the caller is stopping (or starts stopping during the wait) gives up as
cancelled, so a resumed run redoes it instead of keeping a transient error as final.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from harness.errors import AgentCancelled, AgentError, AgentFailure, AgentTimeout

__all__ = ["RetryPolicy", "Attempted", "call_with_retries"]

T = TypeVar("T")

_STOP_POLL_S = 0.25
"""How often a wait before a retry checks whether the caller is stopping."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    timeout_s: float = 60.0
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0

    @classmethod
    def from_settings(cls, settings: Any, timeout_s: float | None = None) -> RetryPolicy:
        """The policy of a config section with the retry keys (replay, judge)."""
        return cls(
            timeout_s=timeout_s or settings.timeout_s,
            max_attempts=settings.max_attempts,
            backoff_base_s=settings.backoff_base_s,
            backoff_max_s=settings.backoff_max_s,
            max_retry_after_s=settings.max_retry_after_s,
        )

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before the next attempt, or None when waiting is not worth it."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_s else None
        return rng.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1)))


@dataclass(slots=True)
class Attempted(Generic[T]):
    """The outcome of a call: the value or the final error, attempts made, last attempt's latency."""

    value: T | None
    error: AgentError | None
    attempts: int
    latency_ms: float


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    rng: random.Random,
    stopping: Callable[[], bool] = lambda: False,
) -> Attempted[T]:
    """Run `attempt` until it succeeds, fails for good, or attempts run out.

    Never raises for a failed call (CancelledError still propagates): the error is returned.
    A retry is not started once `stopping()` is true: the call ends as AgentCancelled, the last
    error in its message.
    """
    attempts = 0
    while True:
        attempts += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(policy.timeout_s):
                value = await attempt()
            return Attempted(value, None, attempts, (time.perf_counter() - started) * 1000)
        except TimeoutError:
            error: AgentError = AgentTimeout(f"no answer within {policy.timeout_s:g}s")
        except AgentError as exc:
            error = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an agent's own bug is that request's error
            error = AgentFailure(f"{type(exc).__name__}: {exc}")
        latency_ms = (time.perf_counter() - started) * 1000
        if not error.retryable or attempts >= policy.max_attempts:
            return Attempted(None, error, attempts, latency_ms)
        wait = policy.delay(attempts, error.retry_after, rng)
        if wait is None:
            limit = policy.max_retry_after_s
            error.args = (f"{error} (Retry-After {error.retry_after:g}s is over the {limit:g}s limit)",)
            return Attempted(None, error, attempts, latency_ms)
        await _sleep_unless(wait, stopping)
        if stopping():
            cancelled = AgentCancelled(f"stopped before attempt {attempts + 1}; the last one failed: {error}")
            return Attempted(None, cancelled, attempts, latency_ms)


async def _sleep_unless(seconds: float, stopping: Callable[[], bool]) -> None:
    """Sleep `seconds`, waking early (within _STOP_POLL_S) once `stopping()` is true."""
    deadline = time.monotonic() + seconds
    while not stopping() and (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, _STOP_POLL_S))
