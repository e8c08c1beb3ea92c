"""Quality gates: checks from config -> statuses with confidence intervals -> a verdict.

No raw scoring here: the gates read the per-request table the store builds from responses
and scores, and the pure statistics in harness.stats.
"""

from harness.gates.catalogue import DEFAULT_CHECKS, METRICS, STATISTICS, CheckSpec, resolve_checks
from harness.gates.evaluate import CheckResult
from harness.gates.run import GateReport, gate_run
from harness.gates.verdict import VERDICTS

__all__ = ["DEFAULT_CHECKS", "METRICS", "STATISTICS", "CheckSpec", "CheckResult", "GateReport", "VERDICTS",
           "gate_run", "resolve_checks"]
