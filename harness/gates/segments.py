"""The same checks per metadata segment, corrected for testing many segments at once.

A value that covers more than half the requests is not a segment (it is most of the traffic,
and the overall checks already speak for it), so it is not evaluated separately.

A segment is flagged as significantly worse when its one-sided test (candidate worse than
prod, or than prod's own noise) stays significant after Benjamini-Hochberg (or Holm)
correction across every segment test, and its estimate is beyond the check's margin.
"""

from __future__ import annotations

import numpy as np

from harness import stats
from harness.config import GatesConfig
from harness.gates.evaluate import CheckResult, evaluate
from harness.gates.inputs import GateInputs
from harness.metrics import CheckSpec

__all__ = ["evaluate_segments", "significantly_worse"]

_SEGMENT_BOOTSTRAP = 1000  # per-segment intervals are for reading, the test decides


def evaluate_segments(specs: list[CheckSpec], inputs: GateInputs, settings: GatesConfig) -> list[CheckResult]:
    """Every check for every segment value with enough requests; p-values adjusted together."""
    results: list[CheckResult] = []
    per_segment = settings.model_copy(update={"min_requests": settings.min_segment_requests})
    for key, values in sorted(inputs.segments.items()):
        for value in sorted(set(values.tolist()) - {""}):
            mask = values == value
            if not settings.min_segment_requests <= int(mask.sum()) <= inputs.n / 2:
                continue
            subset = inputs.subset(mask)
            for spec in specs:
                result = evaluate(spec, subset, per_segment, n_boot=min(settings.n_bootstrap, _SEGMENT_BOOTSTRAP),
                                  segment=(key, value))
                if result.status != "skipped":
                    results.append(result)
    tested = [(r, r.p_value) for r in results if r.p_value is not None and np.isfinite(r.p_value)]
    if tested:
        adjust = stats.holm if settings.correction == "holm" else stats.benjamini_hochberg
        for (result, _), adjusted in zip(tested, adjust([p for _, p in tested]), strict=True):
            result.p_adjusted = float(adjusted)
    return results


def significantly_worse(results: list[CheckResult], alpha: float) -> list[CheckResult]:
    """Segment results that are worse beyond their margin with an adjusted p below alpha."""
    worse = []
    for r in results:
        if r.p_adjusted is None or r.p_adjusted >= alpha or r.worse_by is None:
            continue
        if r.worse_by > (r.margin or 0.0):
            worse.append(r)
    return sorted(worse, key=lambda r: r.p_adjusted or 0.0)
