"""The report's section on a sequential replay: its looks, why it stopped, and each critical
check's anytime interval drawn against the number of requests (inline SVG geometry)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.store import Store

__all__ = ["SequentialSection", "SequenceChart", "sequential_section"]

_WIDTH, _HEIGHT, _LEFT, _RIGHT, _TOP, _BOTTOM = 640, 150, 70, 16, 10, 34


@dataclass
class SequenceChart:
    """One check's interval against the requests used: a band, the estimate's line, the limit."""

    title: str
    width: int
    height: int
    left: int
    band: str
    """SVG polygon points of the interval (an unbounded side drawn to the chart's edge)."""
    line: str
    limit_y: float
    ticks_x: list[tuple[float, str]]
    ticks_y: list[tuple[float, str]]
    status: str


@dataclass
class SequentialSection:
    summary: str
    looks: list[dict[str, Any]]
    charts: list[SequenceChart] = field(default_factory=list)


def sequential_section(store: Store, run_id: str) -> SequentialSection | None:
    """None unless the run was replayed sequentially (it has looks)."""
    looks = [lk for lk in store.looks(run_id) if lk["kind"] == "replay"]
    if not looks:
        return None
    rows = [{"look": lk["look"], "requests": lk["n_requests"], "spend_usd": lk["spend_usd"],
             "decision": lk["decision"], "verdict": lk["verdict"], "reason": lk["reason"] or "",
             "decided": sum(c["status"] in ("pass", "fail") for c in lk["checks"]), "checks": len(lk["checks"])}
            for lk in looks]
    names = [c["name"] for c in looks[-1]["checks"] if c["severity"] == "critical" and c["estimate"] is not None]
    charts = [chart for name in names if (chart := _chart(name, looks)) is not None]
    return SequentialSection(store.run(run_id).get("message") or "", rows, charts)


def _chart(name: str, looks: list[dict[str, Any]]) -> SequenceChart | None:
    points = []
    for lk in looks:
        check = next((c for c in lk["checks"] if c["name"] == name), None)
        if check is not None and check["estimate"] is not None:
            points.append((lk["n_requests"], check))
    if not points:
        return None
    last = points[-1][1]
    values = [v for _, c in points for v in (c["estimate"], c["low"], c["high"]) if v is not None]
    values.append(last["threshold"])
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    n_max = max(n for n, _ in points)
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

    def x(n: float) -> float:
        return _LEFT + plot_w * (n / n_max if len(points) > 1 or n_max == 0 else 1.0) if n_max else _LEFT

    def y(v: float | None, edge: float) -> float:
        v = edge if v is None or not math.isfinite(v) else v
        return _TOP + plot_h * (hi - v) / (hi - lo)

    upper = [f"{x(n):.1f},{y(c['high'], hi):.1f}" for n, c in points]
    lower = [f"{x(n):.1f},{y(c['low'], lo):.1f}" for n, c in reversed(points)]
    line = " ".join(f"{x(n):.1f},{y(c['estimate'], lo):.1f}" for n, c in points)
    ticks_y = [(y(v, lo), f"{v:.3g}") for v in (lo + pad, (lo + hi) / 2, hi - pad)]
    ticks_x = [(x(n), f"{n:,}") for n, _ in points[:: max(1, len(points) // 6)]]
    return SequenceChart(f"{name} ({last['statistic']}): anytime interval against requests used, limit"
                         f" {last['threshold']:g}", _WIDTH, _HEIGHT, _LEFT, " ".join(upper + lower), line,
                         y(last["threshold"], lo), ticks_x, ticks_y, last["status"])
