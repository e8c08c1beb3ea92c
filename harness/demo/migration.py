"""The demo's state migration, v1 -> v2, shipped with the candidate: one planted bug.

v2 splits the profile from the preferences, turns the history into typed interactions with
a `memory` block, and stamps `schema_version`. The transform copes with the legacy history
strings and with sparse states, but it assumes preferences are an object: on the legacy
states whose preferences are the bare locale string it raises AttributeError. That is the
planted bug `harness migrate-check` finds and the release report shows.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["StateV2", "invariants", "migrate_v1_to_v2"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Profile(_Strict):
    tier: Literal["free", "pro", "enterprise"]
    flags: dict[str, bool]


class Preferences(_Strict):
    language: str
    channel: str | None
    notifications: bool


class Interaction(_Strict):
    at: str
    intent: str
    channel: str | None


class Memory(_Strict):
    interactions: list[Interaction]
    last_intent: str | None


class StateV2(_Strict):
    """The target schema of the migration."""

    schema_version: Literal["v2"]
    user_id: str
    profile: Profile
    preferences: Preferences
    memory: Memory


def migrate_v1_to_v2(state: dict[str, Any]) -> dict[str, Any]:
    """A v1 state as v2; a v2 state is returned as it is (the transform is idempotent)."""
    if state.get("schema_version") == "v2":
        return state
    prefs = state.get("preferences") or {}
    interactions = [_interaction(entry) for entry in state.get("history") or []]
    return {
        "schema_version": "v2",
        "user_id": state["user_id"],
        "profile": {"tier": state.get("tier", "free"), "flags": state.get("flags") or {}},
        "preferences": {
            "language": prefs.get("language") or "en-US",  # the planted bug: legacy preferences are a str
            "channel": prefs.get("channel"),
            "notifications": _yes(prefs.get("notifications", state.get("notify", True))),
        },
        "memory": {"interactions": interactions,
                   "last_intent": interactions[-1]["intent"] if interactions else None},
    }


def _interaction(entry: Any) -> dict[str, Any]:
    if isinstance(entry, str):  # legacy "intent@timestamp"
        intent, _, at = entry.partition("@")
        return {"at": at, "intent": intent, "channel": None}
    return {"at": entry["at"], "intent": entry["intent"], "channel": entry.get("channel")}


def _yes(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("yes", "true", "1", "on")


def invariants(old: dict[str, Any], new: dict[str, Any]) -> dict[str, bool]:
    """What v2 must keep of v1: every history entry, the tier and the flags."""
    return {
        "no history entry lost": len(new["memory"]["interactions"]) == len(old.get("history") or []),
        "tier preserved": new["profile"]["tier"] == old.get("tier", "free"),
        "flags preserved": new["profile"]["flags"] == (old.get("flags") or {}),
    }
