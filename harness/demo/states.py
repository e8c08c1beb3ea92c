"""The demo shop's stored agent state, schema v1: one snapshot per user of the demo log.

Each state holds the user's tier, preferences, feature flags and interaction history, built
from the user's requests in the captured log. Like real long-lived state it is not uniform:
older accounts still carry legacy shapes that later code never cleaned up:

* ~12% `legacy_prefs`: preferences saved as the bare locale string, with notifications as
  a top-level "yes"/"no" (`notify`), from before preferences were an object;
* ~10% `legacy_history`: history entries as "intent@timestamp" strings;
* ~8% `sparse`: no history at all and a null language.

The same log always gives byte-identical states.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

__all__ = ["demo_states", "write_states"]

_SHAPES = (("legacy_prefs", 0.12), ("legacy_history", 0.10), ("sparse", 0.08))


def demo_states(records: list[dict[str, Any]], seed: int = 11) -> list[dict[str, Any]]:
    """One {"key", "state", "updated_at"} snapshot per user of the log records, in user order."""
    users: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("user_id"):
            users.setdefault(record["user_id"], []).append(record)
    rng = random.Random(seed)
    snapshots = []
    for user_id in sorted(users):
        requests = sorted(users[user_id], key=lambda r: r["timestamp"])
        draw, shape, edge = rng.random(), "current", 0.0
        for name, share in _SHAPES:
            edge += share
            if draw < edge:
                shape = name
                break
        snapshots.append({"key": user_id, "state": _state(user_id, requests, shape, rng),
                          "updated_at": requests[-1]["timestamp"]})
    return snapshots


def _state(user_id: str, requests: list[dict[str, Any]], shape: str, rng: random.Random) -> dict[str, Any]:
    meta = requests[0]["metadata"]
    history = [{"at": r["timestamp"], "intent": r["metadata"]["intent"], "channel": r["metadata"]["channel"]}
               for r in requests]
    state: dict[str, Any] = {
        "user_id": user_id,
        "tier": meta["tier"],
        "preferences": {"language": meta["locale"], "channel": meta["channel"], "notifications": rng.random() < 0.7},
        "flags": meta.get("flags", {}),
        "history": history,
    }
    if shape == "legacy_prefs":
        state["notify"] = "yes" if state["preferences"]["notifications"] else "no"
        state["preferences"] = meta["locale"]
    elif shape == "legacy_history":
        state["history"] = [f"{h['intent']}@{h['at']}" for h in history]
    elif shape == "sparse":
        state["preferences"]["language"] = None
        del state["history"]
    return state


def write_states(path: str | Path, log: str | Path) -> Path:
    """Write the v1 states of the demo log's users as JSON Lines."""
    with open(log, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(snapshot, ensure_ascii=False) + "\n" for snapshot in demo_states(records))
    return path
