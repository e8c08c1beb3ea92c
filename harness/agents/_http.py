"""HTTP helpers shared by the `http` and `openai` adapters: Retry-After parsing, connect timeout."""

from __future__ import annotations

import math
import time
from datetime import timezone
from email.utils import parsedate_to_datetime

__all__ = ["CONNECT_TIMEOUT_S", "parse_retry_after"]

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
