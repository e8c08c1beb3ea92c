"""What a run is: its plan (dataset, arms, agents, repeats, seed), its row in the store, and the
calls it still owes. A run is created once, and resumed only with the same plan: the plan's
digest is stored with it, and a changed plan names the keys that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness._version import __version__
from harness.config import HarnessConfig
from harness.errors import NotFoundError, ReplayError, StoreConflictError
from harness.records import Request
from harness.scratch import alive
from harness.secrets import redact
from harness.store import Store

__all__ = ["preflight_requests", "preflight_rows", "RunPlan", "Call", "new_run_id", "repeat_selected"]


def new_run_id() -> str:
    """A sortable, unique run id: run-YYYYmmdd-HHMMSS-xxxx."""
    return f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"


def repeat_selected(seed: int, request_id: str, fraction: float) -> bool:
    """Whether a request also gets prod_repeat: stable across runs, machines and resumes.

    md5 of "seed:request_id", first 32 bits as a fraction of 2**32 (the store counts the
    same way in SQL).
    """
    if fraction >= 1:
        return True
    if fraction <= 0:
        return False
    digest = hashlib.md5(f"{seed}:{request_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32 < fraction


@dataclass(frozen=True, slots=True)
class Call:
    """One call a run owes: a request, the arm that answers it, and the sample index."""

    request: Request
    arm: str
    sample: int


@dataclass
class RunPlan:
    """The run's identity and plan; `open()` creates its row or claims an existing one."""

    config: HarnessConfig
    dataset: str
    run_id: str
    profile: str | None = None
    only: frozenset[str] | None = None
    """Sequential replay: this session answers only these requests (a wave); the plan is unchanged."""
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    @property
    def arms(self) -> list[str]:
        with_repeat = self.config.replay.prod_repeat_fraction > 0
        return ["prod", "candidate"] + (["prod_repeat"] if with_repeat else [])

    def as_dict(self) -> dict[str, Any]:
        s = self.config.replay
        return {
            "dataset": self.dataset,
            "arms": self.arms,
            "repeats": s.repeats,
            "prod_repeat_fraction": s.prod_repeat_fraction,
            "seed": s.seed,
            "agents": {
                arm: redact(self.config.agent_for(arm).model_dump(mode="json", exclude={"timeout_s"}))
                for arm in self.arms
            },
        }

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def open(self, store: Store) -> tuple[dict[str, Any] | None, int]:
        """Create the run row, or validate and claim an existing one; returns (existing, n_planned)."""
        store.dataset(self.dataset)  # NotFoundError when missing
        plan, digest = self.as_dict(), self.digest()
        try:
            existing: dict[str, Any] | None = store.run(self.run_id)
        except NotFoundError:
            existing = None
        s = self.config.replay
        if existing is None:
            n_planned = store.count_planned(self.dataset, s.repeats, s.prod_repeat_fraction, s.seed)
            try:
                store.create_run({
                    "run_id": self.run_id, "dataset": self.dataset, "status": "running", "profile": self.profile,
                    "config": redact(self.config.model_dump(mode="json")), "plan": plan, "plan_digest": digest,
                    "n_planned": n_planned, "harness_version": __version__, "owner": self.owner,
                })  # fmt: skip
            except StoreConflictError:
                raise ReplayError(f"run {self.run_id} is already running: another process started it at the same"
                                  " moment") from None
            return None, n_planned
        if existing["dataset"] != self.dataset:
            raise ReplayError(f"run {self.run_id} replays dataset {existing['dataset']!r}, not {self.dataset!r}")
        if existing["plan_digest"] != digest:
            changed = _changed_keys(existing.get("plan") or {}, plan)
            raise ReplayError(f"run {self.run_id} was started with a different plan (changed: {', '.join(changed)}):"
                              " a resume keeps the agents, arms, repeats and seed")
        if existing["status"] == "running" and _owner_alive(existing.get("owner"), self.owner):
            raise ReplayError(f"run {self.run_id} is already running: {existing['owner']} is replaying it right now")
        return existing, int(existing["n_planned"])

    def calls(self, store: Store, chunk_size: int, first_size: int | None = None) -> Iterator[tuple[list[str], list[Call]]]:
        """Chunk by chunk in ingest order (the first of `first_size` requests, when given): the
        chunk's request ids and the calls not done yet, the arms of one request together (the
        runner shuffles them)."""
        repeats = self.config.replay.repeats
        for chunk, done_keys in store.pending_chunks(self.run_id, self.dataset, chunk_size, first_size):
            owed: list[Call] = []
            ids = [row["request_id"] for row in chunk]
            for row in chunk:
                rid = row["request_id"]
                if self.only is not None and rid not in self.only:
                    continue
                missing = [(arm, k) for arm in self._arms_for(rid) for k in range(repeats) if (rid, arm, k) not in done_keys]
                if missing:
                    request = _request(row, self.dataset)
                    owed += [Call(request, arm, k) for arm, k in missing]
            yield (ids if self.only is None else [i for i in ids if i in self.only]), owed

    def _arms_for(self, request_id: str) -> list[str]:
        s = self.config.replay
        if "prod_repeat" in self.arms and not repeat_selected(s.seed, request_id, s.prod_repeat_fraction):
            return ["prod", "candidate"]
        return self.arms


def preflight_rows(plan: RunPlan, store: Store, n: int = 3) -> list[dict[str, Any]]:
    """The rows the preflight sends: `replay.preflight_request`, else the dataset's first `n` requests."""
    return store.first_requests(plan.dataset, n, plan.config.replay.preflight_request)


def preflight_requests(plan: RunPlan, rows: list[dict[str, Any]]) -> list[Request]:
    """The preflight's requests from its rows; ReplayError when the one asked for is not in the dataset."""
    chosen = plan.config.replay.preflight_request
    if chosen is not None and not rows:
        raise ReplayError(f"replay.preflight_request: no request {chosen!r} in dataset {plan.dataset!r}")
    return [_request(row, plan.dataset) for row in rows]


def _request(row: dict[str, Any], dataset: str) -> Request:
    return Request(
        request_id=row["request_id"],
        input=json.loads(row["input"]),
        user_id=row["user_id"],
        session_id=row["session_id"],
        timestamp=row["timestamp"],
        metadata=json.loads(row["metadata"]) if row["metadata"] else {},
        reference=json.loads(row["reference"]) if row["reference"] else None,
        dataset=dataset,
    )


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    changed: list[str] = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed or ["(unknown)"]


def _owner_alive(owner: str | None, me: str) -> bool:
    """True when another live process on this host owns the run."""
    if not owner or owner == me:
        return False
    host, _, pid = owner.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and alive(int(pid))
