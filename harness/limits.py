"""Bounds on what the harness accepts from outside, in one place (the README lists them).

A number an agent or a log reports outside these bounds (negative, NaN, infinite or absurd)
is recorded as invalid: counted and reported, left out of every statistic and never used
for the budget. The bounds are generous on purpose: they catch garbage, not expensive agents.
"""

from __future__ import annotations

__all__ = ["MAX_COST_USD", "MAX_LATENCY_MS", "MAX_TOKENS", "MAX_TEXT_CHARS_SHOWN"]

MAX_COST_USD = 1_000.0
"""One response costing more than this is not believed."""
MAX_LATENCY_MS = 7 * 24 * 3600 * 1000.0
"""A week: long agent conversations are fine, a latency of years is not."""
MAX_TOKENS = 1_000_000_000
"""Tokens of one response, per kind (input, output, cached input)."""
MAX_TEXT_CHARS_SHOWN = 20_000
"""The report shows at most this many characters of one output, input or tool-call field."""
