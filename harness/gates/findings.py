"""Action-level findings per tool, in words: what the candidate does differently, and whether
prod's own noise explains it.

Two readings of the action scorers' details:
- against the reference: per write tool, the share of requests expecting it on which each arm
  made the expected action ("candidate makes the expected issue_refund on 14% of the 31
  requests that expect it; prod on 97%");
- against prod: per write tool, on how many requests each arm dropped or added it compared
  with prod, candidate beside prod_repeat (prod's own noise).
Only differences that a paired test finds significant after Holm correction across tools (and
that are at least `min_effect` in size) become findings; good news is reported too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import numpy as np
import polars as pl

from harness import stats

__all__ = ["Finding", "action_findings"]


@dataclass(frozen=True)
class Finding:
    """One concrete, tested statement about the candidate's actions."""

    kind: str
    """expected_action (against the reference) or action_change (against prod)."""
    tool: str
    text: str
    candidate: float
    prod: float
    n: int
    p_adjusted: float
    concern: bool
    """True for news a reviewer must look at (fewer expected actions, changed actions)."""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def action_findings(matches: pl.DataFrame, changes: pl.DataFrame, *, alpha: float = 0.05,
                    min_effect: float = 0.05) -> list[Finding]:
    """Findings from action_match details (`matches`) and action_changed details (`changes`),
    both as request_id, arm_a, arm_b, details; the largest first."""
    candidates = _expected(matches) + _changes(changes)
    if not candidates:
        return []
    adjusted = stats.holm([p for _, p in candidates])
    found = [replace(f, p_adjusted=float(p)) for (f, _), p in zip(candidates, adjusted, strict=True)
             if p < alpha and abs(f.candidate - f.prod) >= min_effect]
    return sorted(found, key=lambda f: (not f.concern, -abs(f.candidate - f.prod)))


def _expected(matches: pl.DataFrame) -> list[tuple[Finding, float]]:
    """Per expected write tool: the share of requests expecting it where each arm made it."""
    hits: dict[str, dict[str, dict[str, float]]] = {}
    for rid, arm, details in matches.select("request_id", "arm_a", "details").iter_rows():
        for tool, share in (json.loads(details or "{}").get("tool_hits") or {}).items():
            hits.setdefault(tool, {}).setdefault(arm, {})[rid] = share
    out = []
    for tool, by_arm in sorted(hits.items()):
        prod, cand = by_arm.get("prod", {}), by_arm.get("candidate", {})
        both = sorted(set(prod) & set(cand))
        if len(both) < 2:
            continue
        p = np.array([prod[r] for r in both])
        c = np.array([cand[r] for r in both])
        p_value = stats.mcnemar_p(c > 0.5, p > 0.5, "two-sided")
        c_rate, p_rate = float(c.mean()), float(p.mean())
        repeat = by_arm.get("prod_repeat", {})
        shown = [r for r in both if r in repeat]
        noise = f", prod_repeat on {np.mean([repeat[r] for r in shown]):.0%}" if shown else ""
        text = (f"Candidate makes the expected {tool} on {c_rate:.0%} of the {len(both):,} requests whose reference"
                f" expects it; prod on {p_rate:.0%}{noise} ({100 * (c_rate - p_rate):+.0f} points).")
        out.append((Finding("expected_action", tool, text, c_rate, p_rate, len(both), 1.0, c_rate < p_rate), p_value))
    return out


def _changes(changes: pl.DataFrame) -> list[tuple[Finding, float]]:
    """Per write tool: requests on which the candidate dropped or added it against prod, beside prod_repeat."""
    per: dict[tuple[str, str], dict[str, dict[str, bool]]] = {}
    requests: dict[str, set[str]] = {}
    for rid, arm, details in changes.select("request_id", "arm_a", "details").iter_rows():
        parsed = json.loads(details or "{}")
        requests.setdefault(arm, set()).add(rid)
        for change in ("dropped", "added"):
            for tool in parsed.get(change) or {}:
                per.setdefault((tool, change), {}).setdefault(arm, {})[rid] = True
    cand_requests = requests.get("candidate", set())
    repeat_requests = requests.get("prod_repeat", set())
    out = []
    for (tool, change), by_arm in sorted(per.items()):
        cand = by_arm.get("candidate", {})
        repeat = by_arm.get("prod_repeat", {})
        shared = sorted(cand_requests & repeat_requests)
        if len(shared) >= 2:
            a = np.array([r in cand for r in shared])
            b = np.array([r in repeat for r in shared])
            p_value = stats.mcnemar_p(a, b, "two-sided")
            noise = f"; prod_repeat {change} it on {len(repeat):,} (prod's own noise)"
            c_rate, r_rate, n = float(a.mean()), float(b.mean()), len(shared)
        else:
            # No noise floor: a change is only reported when it is frequent, and said to be untested.
            n = len(cand_requests)
            c_rate, r_rate = (len(cand) / n if n else 0.0), 0.0
            p_value = 0.0 if c_rate >= 0.05 and len(cand) >= 5 else 1.0
            noise = "; there is no prod_repeat arm to tell it from prod's own noise"
        if not cand:
            continue
        text = f"Against prod, the candidate {change} {tool} on {len(cand):,} requests{noise}."
        out.append((Finding("action_change", tool, text, c_rate, r_rate, n, 1.0, True), p_value))
    return out
