"""The report's "Side effects" section and its checklist line, "No side effects during replay",
filled from the run's tool_events: what the sandbox blocked, served and let through, per arm.

Evidence rules: done when calls went through the sandbox and none reached a live `write`
endpoint; attention when one did (allowed or not: a live write is a side effect); missing when
no call went through the sandbox (what agents do with their own tools cannot be seen here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.config import HarnessConfig
from harness.store import Store

__all__ = ["CHECKLIST_TITLE", "SideEffectsSection", "side_effects_section"]

CHECKLIST_TITLE = "No side effects during replay"
_EXAMPLE_CHARS = 300


@dataclass
class SideEffectsSection:
    enabled: bool
    rows: list[dict[str, Any]]
    """Per arm and tool: calls, blocked, writes_blocked, misses, live, live_writes_unallowed, errors."""
    examples: list[dict[str, Any]] = field(default_factory=list)
    """Blocked writes with their arguments (cut to a few hundred characters; autoescaped when shown)."""
    checklist: dict[str, Any] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        keys = ("calls", "blocked", "writes_blocked", "misses", "emulated", "live", "live_writes_unallowed", "errors")
        return {k: sum(int(r[k]) for r in self.rows) for k in keys}


def side_effects_section(store: Store, run_id: str, config: HarnessConfig) -> SideEffectsSection:
    enabled = config.tools.sandbox.enabled
    rows = store.tool_event_summary(run_id).to_dicts()
    examples = [{**e, "arguments": _cut(e["arguments"], e["arguments_digest"])}
                for e in store.intended_writes(run_id).to_dicts()]
    section = SideEffectsSection(enabled, rows, examples)
    section.checklist = _checklist(section)
    return section


def _cut(text: str | None, digest: str | None) -> str:
    if text is None:
        return f"(too large to store; {digest})"
    return text if len(text) <= _EXAMPLE_CHARS else text[:_EXAMPLE_CHARS] + "…"


def _checklist(s: SideEffectsSection) -> dict[str, Any]:
    t = s.totals
    if not s.enabled or t["calls"] == 0:
        why = ("the tool sandbox was disabled for this run" if not s.enabled
               else "no tool call went through the tool sandbox")
        return {"title": CHECKLIST_TITLE, "status": "missing", "anchor": "side-effects", "evidence": [
            f"No evidence: {why}. Agents that call their own tools directly are not seen by the harness."]}
    live_writes = sum(int(r["live"]) for r in s.rows if r["tool_class"] == "write")
    evidence = [f"{t['calls']:,} tool calls went through the sandbox: {t['writes_blocked']:,} intended writes blocked,"
                f" {t['misses']:,} calls matched no recording, {t['emulated']:,} results emulated,"
                f" {t['live']:,} forwarded to live endpoints."]
    if t["live_writes_unallowed"]:
        evidence.append(f"{t['live_writes_unallowed']:,} write calls reached a live endpoint without"
                        " allow_live_write: the replay had side effects (no_live_writes fails).")
    elif live_writes:
        evidence.append(f"{live_writes:,} write calls reached live endpoints explicitly allowed"
                        " (allow_live_write): side effects there were intended.")
    else:
        evidence.append("No write call reached a live endpoint.")
    return {"title": CHECKLIST_TITLE, "status": "attention" if live_writes else "done", "anchor": "side-effects",
            "evidence": evidence}
