"""Everything a report shows, computed once from the store (aggregation in DuckDB SQL).

The context is plain data: it can be saved and re-rendered without recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


from harness.store import Store

__all__ = ["ReportContext", "build_context"]


@dataclass
class ReportContext:
    run: dict[str, Any]
    dataset: dict[str, Any]
    arms: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    examples: list[dict[str, Any]] = field(default_factory=list)
    generated_at: str = ""
    harness_version: str = ""


def build_context(store: Store, run_id: str, n_examples: int = 12) -> ReportContext:
    """Collect the run, its dataset, per-arm figures, errors and a few side-by-side examples."""
    from harness import __version__

    run = store.run(run_id)
    return ReportContext(
        run=run,
        dataset=store.dataset(run["dataset"]),
        arms=store.arm_summary(run_id).to_dicts(),
        errors=store.error_breakdown(run_id).to_dicts(),
        examples=_examples(store, run_id, n_examples),
        generated_at=f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        harness_version=__version__,
    )


def _examples(store: Store, run_id: str, n: int) -> list[dict[str, Any]]:
    """The first n requests with each arm's first sample side by side."""
    frame = store.sql(
        """
        WITH picked AS (
            SELECT DISTINCT request_id FROM responses WHERE run_id = ? ORDER BY request_id LIMIT ?
        )
        SELECT q.request_id, q.input_text, x.arm, x.output, x.tool_calls, x.error_type, x.latency_ms
        FROM responses x JOIN picked USING (request_id)
        JOIN runs r ON r.run_id = x.run_id
        JOIN requests q ON q.dataset = r.dataset AND q.request_id = x.request_id
        WHERE x.run_id = ? AND x.sample = 0
        ORDER BY q.request_id, x.arm
        """,
        [run_id, n, run_id],
    )
    examples: list[dict[str, Any]] = []
    for (request_id,), group in frame.group_by(["request_id"], maintain_order=True):
        first = group.row(0, named=True)
        examples.append({
            "request_id": request_id,
            "input": first["input_text"],
            "arms": {row["arm"]: row for row in group.iter_rows(named=True)},
        })  # fmt: skip
    return examples


