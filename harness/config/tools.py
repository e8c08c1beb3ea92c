"""The `[tools]` section: which tools are actions (`write`) and how their arguments compare."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from harness.sections import Section


class ToolArgumentsConfig(Section):
    """How tool-call arguments are compared (action scorers and the tool sandbox alike).

    An argument is named `name` (any tool) or `tool.name` (one tool)."""

    ignore: list[str] = []
    """Arguments left out of comparisons: ids the agent invents, timestamps."""
    unordered: list[str] = []
    """List-valued arguments compared as multisets (order does not matter)."""
    case_sensitive: bool = False
    numbers_from_strings: bool = True
    """"3" and 3 are the same value."""


class ToolsConfig(Section):
    """Which tools change state (`write`: actions) and which only read; names or glob patterns.

    Not listed: a heuristic on the name decides (get_/search_/lookup_/... read), and a tool it
    does not recognise counts as write, the safe side."""

    read: list[str] = []
    write: list[str] = []
    arguments: ToolArgumentsConfig = Field(default_factory=ToolArgumentsConfig)

    def classifier(self) -> Any:
        from harness.tools import ToolClassifier

        return ToolClassifier(tuple(self.read), tuple(self.write))

    def normalizer(self) -> Any:
        from harness.tools import ArgumentNormalizer

        a = self.arguments
        return ArgumentNormalizer.from_lists(a.ignore, a.unordered, case_sensitive=a.case_sensitive,
                                             numbers_from_strings=a.numbers_from_strings)
