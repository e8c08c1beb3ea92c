"""The findings a reviewer reads first: at most five concrete lines under the verdict, in words.

Ranked by severity (a failed critical check, then warnings, then good news) and by size within
each; good news keeps a place when there is any. Each line carries its statistical detail
(interval, p-value) for the level below. The same significantly-worse segments feed the line,
the segment table and the chart, so their counts agree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

from harness.gates.evaluate import CheckResult
from harness.gates.segments import significantly_worse

__all__ = ["Headline", "headlines", "worse_segments", "plain"]

_TONE_ORDER = {"bad": 0, "warn": 1, "good": 2}
_ACTION_CHECKS = ("task_success_delta", "action_f1_delta", "actions_vs_noise")
_LATENCY_CHECKS = ("latency_p99", "latency_p50_ratio", "latency_p95_ratio", "latency_p99_ratio")
_CHECK_FIELDS = {f.name for f in fields(CheckResult)}
_STATISTICS = re.compile(r"\s*\((?:95% CI|margin|adjusted p)[^)]*\)")


@dataclass(frozen=True)
class Headline:
    text: str
    tone: str
    """bad (a critical problem), warn (look at it) or good (good news)."""
    size: float
    """How large the effect is, for ranking within a tone."""
    detail: str = ""
    """The statistics behind it, shown one level down."""


def worse_segments(segment_rows: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """The segment rows the gates call significantly worse (the same rule as the verdict's)."""
    results = [CheckResult(**{"bound": "", **{k: v for k, v in row.items() if k in _CHECK_FIELDS}})
               for row in segment_rows]
    keys = {(r.check_name, r.segment_key, r.segment_value) for r in significantly_worse(results, alpha)}
    return [row for row in segment_rows if (row["check_name"], row["segment_key"], row["segment_value"]) in keys]


def headlines(arms: list[dict[str, Any]], gates: list[dict[str, Any]], findings: list[dict[str, Any]],
              worse: list[dict[str, Any]], limit: int = 5) -> list[Headline]:
    """At most `limit` lines, the most severe and largest first, with the best good news kept."""
    by_arm = {a["arm"]: a for a in arms}
    checks = {g["check_name"]: g for g in gates}
    found = _actions(findings) + _errors(by_arm, checks) + _latency(by_arm, checks) + _cost(by_arm, checks)
    covered = {"error_rate", "cost", *_LATENCY_CHECKS, *(_ACTION_CHECKS if findings else ())}
    found += [_failed(g) for g in gates if g["status"] == "fail" and g["check_name"] not in covered
              and not (findings and str(g.get("source") or "").startswith("action"))]  # the findings say it concretely
    if worse:
        found.append(_segments(worse))
    ranked = sorted(found, key=lambda h: (_TONE_ORDER[h.tone], -h.size))
    concerns = [h for h in ranked if h.tone != "good"]
    good = [h for h in ranked if h.tone == "good"]
    chosen = concerns[: limit - 1] + good[:1] if good else concerns[:limit]
    return (chosen + [h for h in ranked if h not in chosen])[:limit]


def _actions(findings: list[dict[str, Any]]) -> list[Headline]:
    """One line per tool and tone: what the candidate does with it against the reference and against prod."""
    grouped: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for f in findings:
        grouped.setdefault((f["tool"], bool(f["concern"])), []).append(f)
    return [Headline(" ".join(f["text"] for f in group), "bad" if concern else "good",
                     1 + max(abs(f["candidate"] - f["prod"]) for f in group),
                     "; ".join(f"paired test over {f['n']:,} requests, Holm-adjusted p={f['p_adjusted']:.2g}"
                               for f in group))
            for (_, concern), group in grouped.items()]


def _errors(arms: dict[str, dict[str, Any]], checks: dict[str, dict[str, Any]]) -> list[Headline]:
    prod, cand, check = arms.get("prod"), arms.get("candidate"), checks.get("error_rate")
    if not prod or not cand or check is None or check["status"] in ("pass", "skipped"):
        return []
    tone = "bad" if check["status"] == "fail" and check["severity"] == "critical" else "warn"
    return [Headline(f"Candidate fails on {_pct(cand['error_rate'])} of requests ({cand['errors']:,} of {cand['n']:,});"
                     f" prod on {_pct(prod['error_rate'])}.", tone,
                     abs(cand["error_rate"] - prod["error_rate"]) * 10, check["sentence"])]


def _latency(arms: dict[str, dict[str, Any]], checks: dict[str, dict[str, Any]]) -> list[Headline]:
    prod, cand = arms.get("prod"), arms.get("candidate")
    if not prod or not cand or not prod.get("p99_ms") or not cand.get("p99_ms"):
        return []
    ratio = cand["p99_ms"] / prod["p99_ms"]
    latency = [checks[n] for n in _LATENCY_CHECKS if n in checks]
    failed = [c for c in latency if c["status"] == "fail"]
    detail = " ".join(c["sentence"] for c in (failed or latency)[:2])
    what = (f"p99 latency {ratio:.1f}x prod's ({cand['p99_ms']:,.0f} ms against {prod['p99_ms']:,.0f} ms;"
            f" p50 {cand['p50_ms']:,.0f} against {prod['p50_ms']:,.0f} ms).")
    if failed or ratio >= 1.2:
        tone = "bad" if any(c["severity"] == "critical" for c in failed) else "warn"
        return [Headline(what, tone, abs(math.log(ratio)), detail)]
    if ratio <= 0.83:
        return [Headline(what, "good", abs(math.log(ratio)), detail)]
    return []


def _cost(arms: dict[str, dict[str, Any]], checks: dict[str, dict[str, Any]]) -> list[Headline]:
    prod, cand = arms.get("prod"), arms.get("candidate")
    if not prod or not cand or not prod.get("mean_cost_usd") or cand.get("mean_cost_usd") is None:
        return []
    ratio = cand["mean_cost_usd"] / prod["mean_cost_usd"]
    per_1000 = abs(prod["mean_cost_usd"] - cand["mean_cost_usd"]) * 1000
    check = checks.get("cost")
    detail = check["sentence"] if check else "no cost check in this run"
    if ratio <= 0.95:
        return [Headline(f"Cost {ratio:.2f}x prod's (saves ${per_1000:,.2f} per 1,000 requests).", "good",
                         abs(math.log(ratio)), detail)]
    if ratio >= 1.05 or (check and check["status"] == "fail"):
        failed = check is not None and check["status"] == "fail"
        tone = "bad" if failed and check is not None and check["severity"] == "critical" else "warn"
        return [Headline(f"Cost {ratio:.2f}x prod's (adds ${per_1000:,.2f} per 1,000 requests).", tone,
                         abs(math.log(ratio)), detail)]
    return []


def plain(sentence: str) -> str:
    """A check's sentence without its interval, margin and p-value (those stay one level down)."""
    return _STATISTICS.sub("", sentence.split(". ")[0]).rstrip(".") + "."


def _failed(check: dict[str, Any]) -> Headline:
    """A failed check in words; its interval and margin stay in the detail."""
    tone = "bad" if check["severity"] == "critical" else "warn"
    return Headline(plain(check["sentence"]), tone, 0.5, check["sentence"])


def _segments(worse: list[dict[str, Any]]) -> Headline:
    names = sorted({f"{r['segment_key']}={r['segment_value']}" for r in worse})
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    tone = "bad" if any(r["severity"] == "critical" for r in worse) else "warn"
    strongest = sorted(worse, key=lambda r: r["p_adjusted"])[:3]
    detail = "; ".join(f"{r['segment_key']}={r['segment_value']}: {r['check_name']} (adjusted p={r['p_adjusted']:.2g})"
                       for r in strongest)
    if len(worse) > 3:
        detail += f"; {len(worse) - 3} more segment checks under Segments"
    return Headline(f"{len(names)} segment{'s' if len(names) != 1 else ''} significantly worse than prod after"
                    f" correction: {shown}.", tone, 0.4 + 0.1 * len(names), detail)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
