"""`migrate-check`: which states a check covers, its settings, resume, and its outcome.

The states go through the user's code in pool.py. A check killed at any moment resumes with the
same check id, redoing only the states whose results were not yet written; the same id with
other settings or changed code is refused unless replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from harness.config import CanaryConfig, MigrationConfig
from harness.errors import ConfigError, NotFoundError
from harness.migration.code import code_digest, load_code
from harness.migration.pool import run_pool
from harness.migration.worker import WorkerSettings
from harness.stats import stable_fraction
from harness.store import Store


__all__ = ["MigrationOutcome", "check_migration", "migration_config", "new_check_id", "plan_states"]

@dataclass
class MigrationOutcome:
    """What a migrate-check call did; `status` is the check's status afterwards."""

    check_id: str
    state_set: str
    status: str
    scope: str
    n_planned: int
    n_checked: int
    n_new: int
    outcomes: dict[str, int] = field(default_factory=dict)
    resumed: bool = False
    elapsed_s: float = 0.0
    message: str = ""


def new_check_id() -> str:
    """A sortable, unique check id: mig-YYYYmmdd-HHMMSS-xxxx."""
    return f"mig-{datetime.now(UTC):%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"


def migration_config(section: MigrationConfig | None, **options: Any) -> MigrationConfig:
    """The config's [migration] section with the options given (None: not given) laid over it; a new
    check id when neither names one. ConfigError naming the key when the result is not valid."""
    from pydantic import ValidationError

    data = section.model_dump(by_alias=True, exclude_none=True) if section is not None else {}
    given = {k: v for k, v in options.items() if v is not None}
    if "sample" in given or "cohorts" in given:  # the one given replaces the config's other one
        data.pop("cohorts" if "sample" in given else "sample", None)
    data |= given
    data.setdefault("check", new_check_id())
    try:
        return MigrationConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = f"`migration.{first['loc'][0]}`" if first["loc"] else "[migration]"
        raise ConfigError(f"{key}: {first['msg'].removeprefix('Value error, ')}") from None


def plan_states(store: Store, migration: MigrationConfig, canary: CanaryConfig) -> tuple[pl.DataFrame, str]:
    """The states a check covers (seq, key, n_bytes, cohort) in ingest order, and its scope.

    Users are placed by the canary's stable hash (harness.stats.stable_fraction with the canary
    salt): `cohort` is the smallest step (of `cohorts`, else the canary's steps) that holds the
    user, so "migrate 5% first" means the canary's first 5%. `cohorts` keeps only the users within
    its largest step; `sample` N the N users the canary reaches first."""
    assert migration.states is not None
    index = store.state_index(migration.states)
    steps = np.array(sorted(migration.cohorts or canary.steps), dtype=float)
    fractions = np.array([stable_fraction(k, canary.salt) for k in index["key"].to_list()], dtype=float)
    position = np.searchsorted(steps / 100, fractions, side="right")
    cohort = [float(steps[p]) if p < len(steps) else None for p in position]
    plan = index.with_columns(pl.Series("cohort", cohort, dtype=pl.Float64), pl.Series("fraction", fractions))
    scope = "all"
    if migration.cohorts and steps[-1] < 100:
        plan, scope = plan.filter(pl.col("fraction") < steps[-1] / 100), f"cohort {steps[-1]:g}%"
    elif migration.sample is not None and migration.sample < plan.height:
        cut = plan["fraction"].sort()[migration.sample - 1]
        plan, scope = plan.filter(pl.col("fraction") <= cut).head(migration.sample), f"sample of {migration.sample:,}"
    return plan.drop("fraction"), scope


def check_migration(store: Store, migration: MigrationConfig, *, canary: CanaryConfig | None = None,
                    base_dir: str | Path = ".", replace: bool = False, progress: bool = True) -> MigrationOutcome:
    """Run (or resume) the check `migration.check`; `replace` forgets an earlier one of that id."""
    start = time.perf_counter()
    canary = canary or CanaryConfig()
    for key, value in (("states", migration.states), ("transform", migration.transform),
                       ("schema", migration.target_schema)):
        if not value:
            raise ConfigError(f"a migration check needs `migration.{key}`")
    assert migration.states and migration.transform and migration.target_schema
    state_set = store.state_set(migration.states)
    workers = WorkerSettings(migration.transform, migration.target_schema, migration.invariants,
                             migration.idempotent, tuple(migration.already_migrated), str(Path(base_dir).resolve()))
    code = load_code(workers.transform, workers.schema, workers.invariants, workers.already_migrated,
                     workers.base_dir)
    settings = _settings(migration, canary, state_set["content_hash"], code_digest(code))
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    check_id = migration.check
    existing = _existing(store, check_id)
    if existing is not None and not replace:
        if existing["settings_digest"] != digest:
            changed = sorted(k for k in settings if existing["settings"].get(k) != settings[k])
            raise ConfigError(f"migration check {check_id!r} was made with other settings ({', '.join(changed)}"
                              " differ): `replace=True` redoes it, or choose another `migration.check`")
        if existing["status"] == "completed":
            return _outcome(store, check_id, existing, 0, True, start,
                            f"migration check {check_id} is already complete: nothing to do")
        store.update_migration_check(check_id, "running")
    plan, scope = plan_states(store, migration, canary)
    if existing is None or replace:
        store.create_migration_check(check_id, migration.states, scope, settings | {"timeout_s": migration.timeout_s},
                                     digest, plan.height, replace=existing is not None)
    done = store.checked_keys(check_id)
    pending = plan.filter(~pl.col("key").is_in(done.implode())) if done.len() else plan
    n_new, stopped = run_pool(store, check_id, migration.states, pending, workers, migration.timeout_s,
                          migration.workers or os.cpu_count() or 1, plan.height, plan.height - pending.height,
                          progress)
    resumed = existing is not None and not replace
    if stopped:
        store.update_migration_check(check_id, "interrupted", "stopped before the end: rerun to resume")
        return _outcome(store, check_id, store.migration_check(check_id), n_new, resumed, start,
                        f"migration check {check_id} interrupted: check it again (same `migration.check`) to resume")
    store.update_migration_check(check_id, "completed")
    return _outcome(store, check_id, store.migration_check(check_id), n_new, resumed, start, "")


def _settings(migration: MigrationConfig, canary: CanaryConfig, state_set_hash: str, code: str) -> dict[str, Any]:
    """What makes a check what it is: resuming with other settings (or changed code) is refused."""
    return {"state_set": migration.states, "state_set_hash": state_set_hash, "transform": migration.transform,
            "schema": migration.target_schema, "invariants": migration.invariants,
            "idempotent": migration.idempotent, "already_migrated": list(migration.already_migrated),
            "sample": migration.sample, "cohorts": list(migration.cohorts), "canary_salt": canary.salt,
            "canary_steps": list(canary.steps), "code_digest": code}  # fmt: skip


def _existing(store: Store, check_id: str) -> dict[str, Any] | None:
    try:
        return store.migration_check(check_id)
    except NotFoundError:
        return None


def _outcome(store: Store, check_id: str, row: dict[str, Any], n_new: int, resumed: bool, start: float,
             message: str) -> MigrationOutcome:
    counts = store.migration_outcomes(check_id)
    n_checked = sum(counts.values())
    if not message:
        message = (f"migration check {check_id}: {n_checked:,} of {row['n_planned']:,} states checked"
                   f" ({', '.join(f'{k} {v:,}' for k, v in counts.items())})")
    return MigrationOutcome(check_id, row["state_set"], row["status"], row["scope"], row["n_planned"], n_checked,
                            n_new, counts, resumed, time.perf_counter() - start, message)


