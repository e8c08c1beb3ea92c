"""Tool policies: what the sandbox does with one tool's calls, resolved once per tool name.

An exact name in `[tools.policies]` beats a glob pattern; patterns apply in file order. A tool
no entry names gets the default of its class: `replay` for read tools, `block` for write
tools. `live` is never a default: it is opted in per tool, and a `write` tool needs
`allow_live_write` too, else the call still goes out but the gate fails critically.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from harness.config.tools import ToolPolicyConfig, ToolsConfig
from harness.tools.classes import ToolClassifier

__all__ = ["ResolvedPolicy", "PolicyBook"]


@dataclass(frozen=True)
class ResolvedPolicy:
    """The policy of one tool, with its class and where it came from."""

    tool: str
    tool_class: str
    policy: str
    on_miss: str
    config: ToolPolicyConfig
    source: str
    """'policies: issue_*' or 'default for write tools'."""

    @property
    def url(self) -> str | None:
        return self.config.url

    def stub(self, recorded: Any) -> Any:
        """What a blocked call answers: the recording's result when allowed and present, else the stub."""
        if self.config.stub_from_recording and recorded is not None:
            return recorded
        if self.config.stub is not None:
            return self.config.stub
        return {"status": "blocked", "tool": self.tool,
                "message": "not executed: the replay's tool sandbox blocks this tool"}


class PolicyBook:
    """Resolves (and caches) the policy of each tool name from a `[tools]` section."""

    def __init__(self, tools: ToolsConfig, classifier: ToolClassifier | None = None) -> None:
        self.tools = tools
        self.classifier = classifier or tools.classifier()
        self._cache: dict[str, ResolvedPolicy] = {}

    def for_tool(self, name: str) -> ResolvedPolicy:
        known = self._cache.get(name)
        if known is None:
            known = self._cache[name] = self._resolve(name)
        return known

    def _resolve(self, name: str) -> ResolvedPolicy:
        tool_class = self.classifier.classify(name)[0]
        entry, source = self._entry(name)
        default = "replay" if tool_class == "read" else "block"
        policy = entry.policy or default
        if entry.policy is None:
            source = f"default for {tool_class} tools" + (f" ({source})" if source else "")
        on_miss = entry.on_miss or self.tools.sandbox.on_miss
        return ResolvedPolicy(name, tool_class, policy, on_miss, entry, source)

    def _entry(self, name: str) -> tuple[ToolPolicyConfig, str]:
        policies = self.tools.policies
        if name in policies:
            return policies[name], f"policies: {name}"
        for pattern, entry in policies.items():
            if fnmatch.fnmatchcase(name, pattern):
                return entry, f"policies: {pattern}"
        return ToolPolicyConfig(), ""
