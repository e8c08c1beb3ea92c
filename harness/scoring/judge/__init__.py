"""The LLM judge: pointwise 1-10 quality and swapped pairwise preference, on any OpenAI-compatible API.

tasks.py builds the judgments a run needs, templates.py holds the versioned prompts and the
cache key, parsing.py reads the judge's answers, runner.py asks the judge (cache first) and
writes rows in batches, diagnostics.py turns judgments into scores and into the judge's own
health figures, which the gates read to decide whether the judge counts as evidence.
"""

from harness.scoring.judge.diagnostics import judge_diagnostics, judge_scores
from harness.scoring.judge.parsing import JudgeAnswer, UnparseableAnswer, parse_answer
from harness.scoring.judge.runner import JudgeCache, JudgeRunStats, run_judge
from harness.scoring.judge.tasks import JudgeTask, Kind, build_tasks
from harness.scoring.judge.templates import DEFAULT_RUBRIC, JudgeTemplate, cache_key, load_templates
from harness.store.scores import JUDGE_CACHE_COLUMNS as CACHE_COLUMNS
from harness.store.scores import JUDGMENT_COLUMNS as _STORED_JUDGMENT_COLUMNS

JUDGMENT_COLUMNS = tuple(c for c in _STORED_JUDGMENT_COLUMNS if c != "run_id")
"""The columns of a judgment row, in order (the caller adds run_id and created_at)."""

__all__ = ["DEFAULT_RUBRIC", "JUDGMENT_COLUMNS", "CACHE_COLUMNS", "JudgeTask", "JudgeTemplate", "JudgeCache",
           "JudgeRunStats", "JudgeAnswer", "Kind", "UnparseableAnswer", "build_tasks", "load_templates", "cache_key",
           "parse_answer", "run_judge", "judge_diagnostics", "judge_scores"]
