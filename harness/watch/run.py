"""`harness watch`: look at a live canary's logs again and again, and decide at every look.

Each look reads what the files gained (harness.watch.tail), turns it into observations
(harness.watch.observe), stores them with the byte offsets in one transaction (a restart
resumes where it was and reaches the same decisions), evaluates the gates with anytime-valid
intervals (harness.watch.checks) and emits the decision: a JSON line, a row in the store's
looks, and the optional hook command (the JSON on its stdin, HARNESS_DECISION in its env).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.config import GatesConfig
from harness.secrets import scrub
from harness.store import Store
from harness.watch.checks import evaluate_look
from harness.watch.observe import Assignment, observe
from harness.watch.tail import Tailer

__all__ = ["WatchOptions", "Watcher", "HOOK_TIMEOUT_S"]

HOOK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class WatchOptions:
    root: Path
    name: str
    assignment: Assignment
    duration_h: float
    fmt: str = "auto"
    hook: str | None = None


class Watcher:
    """The state of one watch (its name scopes its offsets, records and looks in the store)."""

    def __init__(self, store: Store, settings: GatesConfig, options: WatchOptions) -> None:
        self.store, self.settings, self.options = store, settings, options
        self.scope = f"watch:{options.name}"
        self.tailer = Tailer(options.root, dict(store.watch_files(options.name)))
        looks = store.looks(self.scope)
        self.n_looks = len(looks)
        self.latest: dict[str, Any] | None = looks[-1]["checks"] if looks else None
        """The last look's payload (what --serve answers)."""

    def look(self) -> dict[str, Any]:
        """Read what is new, evaluate, store and return the look's payload."""
        if not self.options.root.is_dir():
            raise FileNotFoundError(f"{self.options.root}: no such directory to watch")
        chunks = self.tailer.poll()
        records = self.store.watch_records(self.options.name)
        seq = int(records["seq"].max()) + 1 if records.height else 0  # type: ignore[arg-type]
        observed = observe(chunks, self.options.assignment, seq, self.options.fmt)
        rows = observed.rows.unique(subset=["request_id", "arm"], keep="first", maintain_order=True)
        added = self.store.save_watch_read(self.options.name, rows, list(self.tailer.state.values()))
        look = evaluate_look(self.store.watch_records(self.options.name), self.settings, self.options.duration_h)
        self.n_looks += 1
        files = [{"path": c.path, "event": c.event, "detail": c.detail} for c in chunks if c.event not in (None, "new")]
        payload = {"watch": self.options.name, "look": self.n_looks, "at": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
                   **look.to_dict(), "new_records": added, "repeated_records": rows.height - added,
                   "unassigned": observed.unassigned, "files": files, "problems": observed.problems}
        self.store.save_look(self.scope, {"look": self.n_looks, "kind": "watch", "n_requests": look.n_canary + look.n_prod,
                                          "n_units": look.n_canary, "decision": look.decision, "verdict": None,
                                          "reason": look.reason, "checks": payload})
        self.latest = payload
        return payload

    def run(self, emit: Callable[[dict[str, Any]], None], *, interval_s: float, max_looks: int | None,
            stop_on_final: bool = True) -> dict[str, Any]:
        """Look every `interval_s` until a final decision (or `max_looks`); returns the last look."""
        taken = 0
        while True:
            payload = self.look()
            taken += 1
            emit(payload)
            self.call_hook(payload)
            if (stop_on_final and payload["final"]) or (max_looks is not None and taken >= max_looks):
                return payload
            time.sleep(interval_s)

    def call_hook(self, payload: dict[str, Any]) -> str | None:
        """Run the hook with the look on stdin; a failing hook is reported, never fatal."""
        if not self.options.hook:
            return None
        env = {**os.environ, "HARNESS_DECISION": payload["decision"], "HARNESS_WATCH": self.options.name}
        try:
            done = subprocess.run(shlex.split(self.options.hook), input=json.dumps(payload), text=True, env=env,
                                  capture_output=True, timeout=HOOK_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return scrub(f"hook {self.options.hook!r} failed: {exc}")
        if done.returncode != 0:
            return scrub(f"hook {self.options.hook!r} exited {done.returncode}: {done.stderr.strip()[:300]}")
        return None
