"""Tool classes: `read` (looks something up) or `write` (changes state: an action).

Explicit names and glob patterns from `[tools]` win; otherwise a heuristic on the name's
first verb decides; a name neither rule recognises counts as `write`, the safe side (an
unknown tool is treated as one that may change something).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ToolClass", "ToolClassifier", "READ_VERBS", "WRITE_VERBS"]

ToolClass = Literal["read", "write"]

#: Words that make a tool `read` when the name starts with them (get_order, searchKb, calculate).
READ_VERBS = frozenset({
    "get", "search", "lookup", "look", "list", "find", "read", "check", "calculate", "fetch", "query",
    "view", "show", "describe", "retrieve", "count", "validate", "verify", "think", "browse", "estimate",
})  # fmt: skip
#: Words that make a tool `write` wherever they appear in the name (issue_refund, book_reservation).
WRITE_VERBS = frozenset({
    "create", "update", "cancel", "book", "send", "transfer", "delete", "issue", "refund", "modify", "set",
    "add", "remove", "reset", "post", "submit", "exchange", "return", "pay", "charge", "change", "write",
    "insert", "upsert", "put", "patch", "approve", "reject", "assign", "close", "open", "execute", "run",
    "apply", "move", "rename", "publish", "schedule", "enroll", "register", "revoke", "grant", "disable",
    "enable", "upload", "email", "notify", "purchase", "reserve", "edit", "save", "archive",
})  # fmt: skip

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def _words(name: str) -> list[str]:
    """`issue_refund`, `issueRefund`, `issue-refund`, `IssueRefund` -> ['issue', 'refund']."""
    return [w.lower() for w in _WORD.findall(name)]


@dataclass(frozen=True)
class ToolClassifier:
    """Classifies tool names: explicit lists and globs first, then the name heuristic."""

    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    _cache: dict[str, tuple[ToolClass, str]] = field(default_factory=dict, compare=False, repr=False)

    def classify(self, name: str) -> tuple[ToolClass, str]:
        """(class, rule): the rule says why, e.g. 'write list: issue_*' or 'heuristic: starts with get'."""
        known = self._cache.get(name)
        if known is None:
            known = self._cache[name] = self._decide(name)
        return known

    def is_write(self, name: str) -> bool:
        return self.classify(name)[0] == "write"

    def _decide(self, name: str) -> tuple[ToolClass, str]:
        # An exact name beats a pattern; write beats read when both lists match (the safe side).
        for cls, patterns in (("write", self.write), ("read", self.read)):
            if name in patterns:
                return cls, f"{cls} list: {name}"  # type: ignore[return-value]
        for cls, patterns in (("write", self.write), ("read", self.read)):
            for pattern in patterns:
                if fnmatch.fnmatchcase(name, pattern):
                    return cls, f"{cls} list: {pattern}"  # type: ignore[return-value]
        words = _words(name)
        if words and words[0] in READ_VERBS:
            return "read", f"heuristic: starts with {words[0]!r}"
        hit = next((w for w in words if w in WRITE_VERBS), None)
        if hit is not None:
            return "write", f"heuristic: contains {hit!r}"
        return "write", "unknown: counted as write (the safe side)"
