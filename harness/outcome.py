"""What a release job returns: the replay, scores, gates and report it produced."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.store import Store

if TYPE_CHECKING:
    from harness.gates import GateReport
    from harness.replay import ReplaySummary
    from harness.scoring import ScoreSummary
    from harness.sequential_run import SequentialSummary

__all__ = ["ReleaseOutcome"]


@dataclass
class ReleaseOutcome:
    """What a release job did. When the replay stopped early and incomplete runs are not allowed,
    nothing after the replay ran (scores, gates and report are None)."""

    store: Store
    replay: ReplaySummary
    scores: ScoreSummary | None = None
    gates: GateReport | None = None
    report: Path | None = None
    sequential: SequentialSummary | None = None
    """A sequential replay's looks, stop reason and savings (None for a fixed-sample run)."""

    @property
    def run_id(self) -> str:
        return self.replay.run_id

    @property
    def verdict(self) -> str | None:
        return self.gates.verdict if self.gates is not None else None
