"""Replay: a dataset through the prod, prod_repeat and candidate arms, resumably.

plan.py knows what a run owes and keeps it resumable, budget.py its spend, responses.py turns
one outcome into a stored Response, runner.py is the worker pool, run.py puts them together.
"""

from harness.replay.plan import new_run_id, repeat_selected
from harness.replay.run import ReplaySummary, replay, replay_async

__all__ = ["replay", "replay_async", "ReplaySummary", "repeat_selected", "new_run_id"]
