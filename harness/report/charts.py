"""Chart geometry for inline SVG: small multiples of histograms and interval plots.

Python computes coordinates from aggregated data; the Jinja macros draw them, so every label
passes through autoescaping and the report needs no script and nothing from the network.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

__all__ = ["Bar", "Panel", "Chart", "Interval", "IntervalChart", "histogram_chart", "interval_chart", "ARM_COLOURS"]

ARM_COLOURS = {"prod": "#3b6fb6", "prod_repeat": "#8aa9d6", "candidate": "#d9822b"}
_WIDTH, _PANEL_HEIGHT, _LEFT, _BOTTOM, _RIGHT = 640, 78, 190, 40, 64
_MIN_BAR = 1.5
"""A bin with any responses is drawn at least this high, so a tail of a few slow answers stays visible."""


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    title: str


@dataclass
class Panel:
    label: str
    colour: str
    top: float
    bars: list[Bar] = field(default_factory=list)
    note: str = ""
    counts: list[tuple[float, str]] = field(default_factory=list)
    """The count axis: (y, label) at 0, a quarter of the peak and the peak (bar heights are square-root scaled)."""


@dataclass
class Chart:
    title: str
    width: int
    height: int
    panels: list[Panel]
    ticks: list[tuple[float, str]]
    axis_y: float
    x_label: str
    left: int = _LEFT


@dataclass(frozen=True)
class Interval:
    label: str
    y: float
    x: float
    x_low: float
    x_high: float
    flagged: bool
    title: str


@dataclass
class IntervalChart:
    title: str
    width: int
    height: int
    rows: list[Interval]
    zero_x: float
    limit_x: float | None
    ticks: list[tuple[float, str]]
    x_label: str
    left: int = 270


_INTERVAL_LEFT = 270


def histogram_chart(title: str, frame: pl.DataFrame, groups: list[tuple[str, str]], *, log_x: bool, x_label: str,
                    fmt: Callable[[float], str], bin_width: Callable[[float], float]) -> Chart | None:
    """One histogram panel per group (same x scale), from rows (arm, bin, n); None without data."""
    if frame.is_empty():
        return None
    lo = float(frame["bin"].min())  # type: ignore[arg-type]
    hi = max(float(b) + bin_width(float(b)) for b in frame["bin"].to_list())
    scale = _scale(lo, hi, log_x)
    panels = []
    for i, (arm, label) in enumerate(groups):
        rows = frame.filter(pl.col("arm") == arm)
        panel = Panel(label, ARM_COLOURS.get(arm, "#777"), 8 + i * _PANEL_HEIGHT)
        total = int(rows["n"].sum()) if rows.height else 0
        if total == 0:
            panel.note = "no data"
        peak = max(rows["n"].to_list(), default=1)
        base, tall = panel.top + _PANEL_HEIGHT - 6, _PANEL_HEIGHT - 14
        for b, n in rows.select("bin", "n").iter_rows():
            x0, x1 = scale(float(b)), scale(float(b) + bin_width(float(b)))
            h = max(tall * math.sqrt(n / peak), _MIN_BAR) if n else 0.0
            panel.bars.append(Bar(x0, base - h, max(x1 - x0 - 1, 1), h,
                                  f"{label}: {n:,} in {fmt(float(b))} .. {fmt(float(b) + bin_width(float(b)))}"))
        if total:
            panel.counts = [(base, "0"), (base - tall / 2, f"{peak / 4:,.0f}"), (base - tall, f"{peak:,}")]
        panels.append(panel)
    axis_y = 8 + len(groups) * _PANEL_HEIGHT
    return Chart(title, _WIDTH, int(axis_y + _BOTTOM), panels, _ticks(lo, hi, log_x, scale, fmt), axis_y,
                 f"{x_label}; bar height: count, square-root scale")


def interval_chart(title: str, rows: list[dict[str, object]], *, x_label: str, limit: float | None,
                   fmt: Callable[[float], str]) -> IntervalChart | None:
    """Dot-and-whisker rows (label, estimate, low, high, flagged) around zero and a limit line."""
    rows = [r for r in rows if all(isinstance(r[k], int | float) and math.isfinite(r[k])  # type: ignore[arg-type]
                                   for k in ("estimate", "low", "high"))]
    if not rows:
        return None
    values = [float(r[k]) for r in rows for k in ("low", "high")] + [0.0] + ([limit] if limit is not None else [])  # type: ignore[arg-type]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 or 0.01
    scale = _scale(lo - pad, hi + pad, False, left=_INTERVAL_LEFT)
    items = [
        Interval(_short(str(r["label"])), 20 + 22 * i, scale(float(r["estimate"])), scale(float(r["low"])),  # type: ignore[arg-type]
                 scale(float(r["high"])), bool(r["flagged"]),  # type: ignore[arg-type]
                 f"{r['label']}: {fmt(float(r['estimate']))} ({fmt(float(r['low']))} .. {fmt(float(r['high']))})")  # type: ignore[arg-type]
        for i, r in enumerate(rows)
    ]
    height = 20 + 22 * len(rows) + _BOTTOM
    return IntervalChart(title, _WIDTH, height, items, scale(0.0), scale(limit) if limit is not None else None,
                         _ticks(lo - pad, hi + pad, False, scale, fmt), x_label)


def _scale(lo: float, hi: float, log_x: bool, left: int = _LEFT) -> Callable[[float], float]:
    right = _WIDTH - _RIGHT
    if log_x:
        a, b = math.log10(max(lo, 1e-9)), math.log10(max(hi, lo * 1.0001, 1e-9))
        return lambda v: left + (right - left) * (math.log10(max(v, 1e-9)) - a) / ((b - a) or 1)
    return lambda v: left + (right - left) * (v - lo) / ((hi - lo) or 1)


def _ticks(lo: float, hi: float, log_x: bool, scale: Callable[[float], float],
           fmt: Callable[[float], str]) -> list[tuple[float, str]]:
    if log_x:
        values = [10.0**k for k in range(math.floor(math.log10(max(lo, 1e-9))), math.ceil(math.log10(hi)) + 1)]
        steps = (1, 3) if math.log10(max(hi, 1e-9) / max(lo, 1e-9)) < 3 else (1,)  # legible at print size
        values = [v * m for v in values for m in steps if lo <= v * m <= hi]
    else:
        raw = ((hi - lo) or 1) / 4
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
        start = math.ceil(lo / step) * step
        values = [start + k * step for k in range(int((hi - start) / step + 1e-9) + 1)]
    return [(scale(v), fmt(v)) for v in values]


def _short(label: str, limit: int = 22) -> str:
    """A row label that fits the chart's left margin at print size; the full one is in the tooltip."""
    return label if len(label) <= limit else label[: limit - 1] + "…"
