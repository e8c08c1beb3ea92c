"""Quality gates: checks from config -> statuses with confidence intervals -> a verdict.

No raw scoring here: the gates read the store's per-request tables through the metric
registry (harness.metrics), and the pure statistics in harness.stats.
"""

from harness.gates.catalogue import CheckSpec, default_checks, resolve_checks
from harness.gates.evaluate import CheckResult
from harness.gates.run import GateReport, gate_run
from harness.gates.verdict import VERDICTS

__all__ = ["CheckSpec", "CheckResult", "GateReport", "VERDICTS", "default_checks", "gate_run", "resolve_checks"]
