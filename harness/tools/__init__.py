"""Tools an agent calls: which are actions (`write`) and how their arguments compare.

The action scorers and the tool sandbox share these two rules, so "the same action" means
the same thing when a replayed call is matched to a recording and when it is scored.
"""

from harness.tools.arguments import ArgumentNormalizer, normalized_calls
from harness.tools.classes import READ_VERBS, WRITE_VERBS, ToolClassifier

__all__ = ["ArgumentNormalizer", "ToolClassifier", "READ_VERBS", "WRITE_VERBS", "normalized_calls"]
