"""Tool calls as comparable multisets: what the tool and action scorers share.

A response's tool calls (stored JSON text) become (name, normalized arguments) pairs with the
`[tools]` argument rules; its *actions* are the pairs whose tool is classed `write`.
Precision/recall/F1 are over multisets: calling the same action twice is not the same as once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable

import polars as pl

from harness.tools import ArgumentNormalizer, ToolClassifier, normalized_calls

__all__ = ["Action", "prf", "calls_of", "actions_of", "by_request_sample"]

Action = tuple[str, str]
"""(tool name, normalized-arguments key)."""


def prf(predicted: Iterable[Hashable], expected: Iterable[Hashable]) -> tuple[float, float, float]:
    """Multiset precision, recall and F1; two empty lists agree perfectly."""
    p, e = Counter(predicted), Counter(expected)
    n_p, n_e = sum(p.values()), sum(e.values())
    if n_p == 0 and n_e == 0:
        return 1.0, 1.0, 1.0
    hits = sum((p & e).values())
    precision = hits / n_p if n_p else 0.0
    recall = hits / n_e if n_e else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def calls_of(tool_calls: str | None, normalizer: ArgumentNormalizer) -> list[Action]:
    """Every tool call of a response, read or write."""
    return normalized_calls(tool_calls, normalizer)


def actions_of(tool_calls: str | None, classifier: ToolClassifier, normalizer: ArgumentNormalizer) -> list[Action]:
    """The write actions of a response: calls of tools classed `write`."""
    return [call for call in normalized_calls(tool_calls, normalizer) if classifier.is_write(call[0])]


def by_request_sample(frame: pl.DataFrame) -> dict[tuple[str, int], str | None]:
    """(request_id, sample) -> tool calls text, for one arm's rows."""
    return {(r, s): t for r, s, t in frame.select("request_id", "sample", "tool_calls").iter_rows()}
