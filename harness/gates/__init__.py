"""Quality gates: checks from config -> statuses with confidence intervals -> a verdict.

No raw scoring here: the gates read the store's per-request tables through the metric
registry (harness.metrics), and the pure statistics in harness.stats. Names are imported on
first use, so validating a config (which reads the catalogue) does not load the statistics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness._lazy import lazy_names

if TYPE_CHECKING:
    from harness.gates.catalogue import CheckSpec, default_checks, resolve_checks
    from harness.gates.evaluate import CheckResult
    from harness.gates.run import GateReport, gate_run
    from harness.gates.verdict import VERDICTS

__all__ = ["CheckSpec", "CheckResult", "GateReport", "VERDICTS", "default_checks", "gate_run", "resolve_checks"]

_WHERE = {
    "CheckSpec": "harness.gates.catalogue", "default_checks": "harness.gates.catalogue",
    "resolve_checks": "harness.gates.catalogue", "CheckResult": "harness.gates.evaluate",
    "GateReport": "harness.gates.run", "gate_run": "harness.gates.run", "VERDICTS": "harness.gates.verdict",
}  # fmt: skip


__getattr__ = lazy_names(__name__, _WHERE)
