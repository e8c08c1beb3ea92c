"""HTTP helpers shared by the `http` and `openai` adapters and the tool endpoint: Retry-After parsing,
connect timeout, bodies read under a size cap."""

from __future__ import annotations

import math
import time
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import StreamReader

__all__ = ["CONNECT_TIMEOUT_S", "parse_retry_after", "read_capped"]

#: A stuck TCP handshake is a connection fault, not a slow agent; replay owns the overall deadline.
CONNECT_TIMEOUT_S = 30.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or invalid.

    A date in the past gives 0, never a negative wait; a number too large for a float is an
    infinite wait (over any limit), not a missing header.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # HTTP dates are GMT; "-0000" parses as zone-less
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = moment.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


async def read_capped(stream: StreamReader, length: int | None, limit: int) -> bytes | None:
    """The whole body, or None when it is over `limit` bytes. `length` is the declared length of a
    body sent as is (None when unknown or content-encoded): over the limit, it is not read at all;
    otherwise the body is read in chunks as they come and counted (decompressed) as read."""
    if length is not None:
        return await stream.read() if length <= limit else None
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
