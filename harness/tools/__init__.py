"""Tools an agent calls: which are actions (`write`), how their arguments compare, and the
replay's sandbox that serves recorded results and blocks writes.

The action scorers and the tool sandbox share these two rules, so "the same action" means
the same thing when a replayed call is matched to a recording and when it is scored.
"""

from harness.tools.arguments import ArgumentNormalizer, normalized_calls
from harness.tools.classes import READ_VERBS, WRITE_VERBS, ToolClassifier
from harness.tools.policy import PolicyBook, ResolvedPolicy
from harness.tools.recordings import Recordings, parse_recordings
from harness.tools.sandbox import Sandbox, store_recordings
from harness.tools.session import ToolSession

__all__ = ["ArgumentNormalizer", "ToolClassifier", "READ_VERBS", "WRITE_VERBS", "normalized_calls", "PolicyBook",
           "ResolvedPolicy", "Recordings", "parse_recordings", "Sandbox", "ToolSession", "store_recordings"]
