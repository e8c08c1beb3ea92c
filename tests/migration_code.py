"""User code for the migration-check tests: a v1 -> v2 transform whose behaviour each state
chooses with its `kind`, its invariants, a pydantic target model, and a JSON Schema.

kinds: ok (default), raise, not_json, invalid, lose_history, segfault, exit, loop,
stubborn_loop (ignores SIGTERM), corrupt_pool (writes junk into the pool's pipes), slow (sleeps
MIG_SLOW_S), email_error (an error quoting an email and markup). A state without `history` makes
the invariants raise; the pydantic model's validator raises TypeError for the user "boom".
When MIG_CALLS names a file, every call appends "<MIG_RUN> <user>" to it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

SCHEMA_V2 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "user", "language", "history"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": 2},
        "user": {"type": "string"},
        "language": {"type": "string"},
        "history": {"type": "array", "items": {"type": "object", "required": ["text"],
                                               "properties": {"text": {"type": "string"}}}},
    },
}


class AlreadyMigrated(Exception):
    """What the transform raises when handed a v2 state."""


class Entry(BaseModel):
    model_config = ConfigDict(strict=True)
    text: str


class StateV2(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    version: int
    user: str
    language: str
    history: list[Entry]

    @field_validator("user")
    @classmethod
    def _not_boom(cls, user: str) -> str:
        if user == "boom":
            raise TypeError("a validator that fails the wrong way")  # pydantic lets it through
        return user


def upgrade(state: dict[str, Any]) -> Any:
    if state.get("version") == 2:
        raise AlreadyMigrated
    kind = state.get("kind", "ok")
    if os.environ.get("MIG_CALLS"):
        with open(os.environ["MIG_CALLS"], "a", encoding="utf-8") as f:
            f.write(f"{os.environ.get('MIG_RUN', '')} {state['user']}\n")
    if kind == "raise":
        return state["preferences"]["language"]
    if kind == "not_json":
        return {"when": object()}
    if kind == "segfault":
        ctypes.string_at(0)
    if kind == "exit":
        os._exit(3)
    if kind == "loop":
        while True:
            pass
    if kind == "stubborn_loop":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            pass
    if kind == "corrupt_pool":
        _write_junk_into_pipes()
    if kind == "slow":
        time.sleep(float(os.environ.get("MIG_SLOW_S", "0.03")))
    if kind == "email_error":
        raise ValueError("cannot reach jane.doe@example.com <script>alert('x')</script>")
    history = [{"text": h} for h in state.get("history", [])]
    new = {"version": 2, "user": state["user"], "language": state.get("lang") or "en", "history": history}
    if kind == "invalid":
        new["language"] = 7
    if kind == "lose_history":
        new["history"] = history[:1]
    return new


def upgrade_not_idempotent(state: dict[str, Any]) -> Any:
    """Re-applied to its own output it adds a second wrapper: not idempotent."""
    if state.get("version") == 2:
        return state | {"history": state["history"] + [{"text": "again"}]}
    return upgrade(state)


def invariants(old: dict[str, Any], new: dict[str, Any]) -> dict[str, bool]:
    return {"no history entry lost": len(new["history"]) >= len(old["history"]),  # KeyError without one
            "user preserved": new["user"] == old["user"]}


def _write_junk_into_pipes() -> None:
    import gc
    import multiprocessing.connection as mc

    for obj in gc.get_objects():
        if isinstance(obj, mc.Connection) and obj.writable:
            try:
                obj.send_bytes(b"not a pickle")
            except OSError:
                pass
