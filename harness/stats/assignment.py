"""A machine-independent hash that assigns users to a canary, the same on every machine."""

from __future__ import annotations

import hashlib
import math

_BELOW_ONE = math.nextafter(1.0, 0.0)


def stable_fraction(key: str, salt: str = "") -> float:
    """A number in [0, 1) from sha256(f"{salt}:{key}"): first 8 bytes, big-endian, / 2**64.

    Identical on every machine and Python version (unlike hash()); used to assign users to a canary.
    """
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    # The division rounds to nearest, so the top 2**-54 of the range would round to 1.0.
    return min(int.from_bytes(digest[:8], "big") / 2**64, _BELOW_ONE)
