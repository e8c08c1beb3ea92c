"""`harness watch`: anytime-valid gates on a live canary's growing logs (tail, observe, checks,
run, serve)."""

from harness.watch.checks import DECISIONS, FINAL_DECISIONS, Look, evaluate_look
from harness.watch.observe import Assignment
from harness.watch.run import Watcher, WatchOptions
from harness.watch.serve import AnalysisServer, analysis, parse_address

__all__ = ["DECISIONS", "FINAL_DECISIONS", "Look", "evaluate_look", "Assignment", "Watcher", "WatchOptions",
           "AnalysisServer", "analysis", "parse_address"]
