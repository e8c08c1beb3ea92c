"""Reference and behaviour checks on tool calls: no model needed.

Against reference tool calls (the request's own, or a captured variant's): precision,
recall and F1 by tool name and by name + arguments, and whether the sequence of names
matches. Between arms, shadow-diff style: did the set or the sequence of tool calls change
from prod? A change that prod_repeat also shows against prod is noise.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

import polars as pl

__all__ = ["tool_match", "tool_reference_scores", "tool_behaviour_scores"]


def _calls(text: str | None) -> list[tuple[str, str]]:
    """(name, canonical arguments) of each call in a tool-calls JSON text."""
    if not text:
        return []
    try:
        calls = json.loads(text)
    except ValueError:
        return []
    out = []
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            out.append((call["name"], json.dumps(call.get("arguments"), sort_keys=True, default=str)))
    return out


def _prf(predicted: Iterable[Any], expected: Iterable[Any]) -> tuple[float, float, float]:
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


def tool_match(predicted: str | None, expected: str | None) -> dict[str, float]:
    """All reference metrics for one response against one reference."""
    got, want = _calls(predicted), _calls(expected)
    p_name, r_name, f_name = _prf((n for n, _ in got), (n for n, _ in want))
    p_args, r_args, f_args = _prf(got, want)
    return {
        "precision_name": p_name, "recall_name": r_name, "f1_name": f_name,
        "precision_args": p_args, "recall_args": r_args, "f1_args": f_args,
        "sequence_match": float([n for n, _ in got] == [n for n, _ in want]),
    }  # fmt: skip


def _ok(responses: pl.DataFrame) -> pl.DataFrame:
    return responses.filter(pl.col("error_type").is_null())


def tool_reference_scores(responses: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """Rows for scorers tool_f1_name, tool_f1_args and tool_sequence_match (arm vs 'reference'),
    each the mean over the arm's samples; details carry precision, recall and the reference's source."""
    refs = requests.filter(pl.col("reference_tool_calls").is_not_null()).select(
        "request_id", "reference_tool_calls", "reference_source")
    joined = _ok(responses).join(refs, on="request_id")
    per_response = [
        {"request_id": r["request_id"], "arm": r["arm"], "source": r["reference_source"],
         **tool_match(r["tool_calls"], r["reference_tool_calls"])}
        for r in joined.iter_rows(named=True)
    ]  # fmt: skip
    if not per_response:
        return _empty()
    metrics = pl.DataFrame(per_response).group_by("request_id", "arm").agg(
        pl.col("source").first(), pl.exclude("source").mean())
    rows = []
    for r in metrics.iter_rows(named=True):
        details = json.dumps({k: round(v, 6) for k, v in r.items() if k.startswith(("precision", "recall"))}
                             | {"source": r["source"]})
        for scorer, key in (("tool_f1_name", "f1_name"), ("tool_f1_args", "f1_args"),
                            ("tool_sequence_match", "sequence_match")):
            rows.append((r["request_id"], scorer, r["arm"], "reference", r[key], details))
    return _frame(rows)


def tool_behaviour_scores(responses: pl.DataFrame) -> pl.DataFrame:
    """Rows for scorers tool_set_changed and tool_sequence_changed, candidate vs prod and
    prod_repeat vs prod: 1 when changed, samples paired by index and averaged."""
    ok = _ok(responses).select("request_id", "arm", "sample", "tool_calls")
    prod = ok.filter(pl.col("arm") == "prod").drop("arm").rename({"tool_calls": "prod_calls"})
    rows = []
    for arm in ("candidate", "prod_repeat"):
        other = ok.filter(pl.col("arm") == arm).drop("arm")
        joined = other.join(prod, on=["request_id", "sample"])
        changes: dict[str, list[tuple[float, float, set[str], set[str]]]] = {}
        for r in joined.iter_rows(named=True):
            mine = [n for n, _ in _calls(r["tool_calls"])]
            theirs = [n for n, _ in _calls(r["prod_calls"])]
            changes.setdefault(r["request_id"], []).append(
                (float(set(mine) != set(theirs)), float(mine != theirs), set(mine) - set(theirs), set(theirs) - set(mine)))
        for request_id, samples in changes.items():
            added = sorted(set().union(*(s[2] for s in samples)))
            removed = sorted(set().union(*(s[3] for s in samples)))
            details = json.dumps({"added": added, "removed": removed})
            n = len(samples)
            rows.append((request_id, "tool_set_changed", arm, "prod", sum(s[0] for s in samples) / n, details))
            rows.append((request_id, "tool_sequence_changed", arm, "prod", sum(s[1] for s in samples) / n, details))
    return _frame(rows)


_SCHEMA = {"request_id": pl.String, "scorer": pl.String, "arm_a": pl.String, "arm_b": pl.String,
           "value": pl.Float64, "details": pl.String}


def _frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=_SCHEMA, orient="row") if rows else _empty()


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=_SCHEMA)
