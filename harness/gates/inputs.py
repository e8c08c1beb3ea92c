"""The per-request table the checks read, as numpy arrays, with clusters and segments."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

__all__ = ["GateInputs", "build_inputs"]


@dataclass
class GateInputs:
    """Columns named `<metric>__<arm>` (NaN where missing), one row per request."""

    columns: dict[str, np.ndarray]
    clusters: np.ndarray
    quality_source: str | None
    """'judge', 'reference similarity', or None when neither exists."""
    has_judge: bool
    has_repeat: bool
    segments: dict[str, np.ndarray] = field(default_factory=dict)
    """Segment key -> the value of each request ('' when it has none)."""

    @property
    def n(self) -> int:
        return len(self.clusters)

    def column(self, metric: str, arm: str) -> np.ndarray:
        if metric == "quality":
            prefix = "judge_quality" if self.quality_source == "judge" else "simref"
            return self.columns[f"{prefix}__{arm}"]
        if metric == "similarity":
            return self.columns[f"similarity__{arm}"]
        if metric == "tool_behaviour":
            return self.columns[f"tool_set_changed__{arm}"]
        return self.columns[f"{metric}__{arm}"]

    def subset(self, mask: np.ndarray) -> GateInputs:
        return GateInputs(
            {k: v[mask] for k, v in self.columns.items()}, self.clusters[mask], self.quality_source,
            self.has_judge, self.has_repeat, {k: v[mask] for k, v in self.segments.items()},
        )  # fmt: skip


def build_inputs(frame: pl.DataFrame, *, cluster_by: str, segment_keys: list[str]) -> GateInputs:
    """Arrays from the store's gate table; quality comes from the judge when it scored the run."""
    numeric = [c for c in frame.columns if "__" in c]
    columns = {c: frame[c].cast(pl.Float64).fill_null(float("nan")).to_numpy() for c in numeric}
    has_judge = bool(np.isfinite(columns["judge_quality__candidate"]).any()
                     or np.isfinite(columns["judge_pairwise__candidate"]).any())
    has_ref = bool(np.isfinite(columns["simref__candidate"]).any())
    source = "judge" if np.isfinite(columns["judge_quality__candidate"]).any() else (
        "reference similarity" if has_ref else None)
    has_repeat = bool(np.isfinite(columns["latency_ms__prod_repeat"]).any())
    key = "request_id" if cluster_by == "none" else cluster_by
    clusters = frame.select(pl.coalesce(key, "request_id"))[:, 0]
    return GateInputs(columns, clusters.to_numpy().astype(str), source, has_judge, has_repeat,
                      _segments(frame["metadata"].to_list(), segment_keys))


def _segments(metadata: list[str | None], keys: list[str]) -> dict[str, np.ndarray]:
    """intent=refund_request, tier=pro, flags.new-checkout=true ...: object values split per entry."""
    parsed = [json.loads(m) if m else {} for m in metadata]
    segments: dict[str, list[str]] = {}
    for i, meta in enumerate(parsed):
        for key in keys:
            value = meta.get(key)
            entries: dict[str, Any] = (
                {f"{key}.{k}": v for k, v in value.items()} if isinstance(value, dict) else {key: value}
            )
            for name, v in entries.items():
                if v is None or isinstance(v, list | dict):
                    continue
                if name not in segments:  # not setdefault: its default list would be built every time
                    segments[name] = [""] * len(parsed)
                segments[name][i] = json.dumps(v) if isinstance(v, bool) else str(v)
    return {k: np.array(v, dtype=object) for k, v in segments.items()}
