"""What a migration worker process does with one state: the user's transform, the target
schema, the invariants, and (when the transform is declared idempotent) the transform again.

The outcome is the first step that fails: transform_error, invalid, invariant_broken,
changed_on_reapply; else ok. A transform that crashes the process, hangs or returns something
that is not JSON never gets here as a result: the pool in runner.py records those.
Error messages are cut short and redacted (emails, phones, cards, IPs, API keys), since
they often quote the state's values.
"""

from __future__ import annotations

import functools
import json
import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.migration.code import Problem, UserCode, load_code
from harness.migration.fields import field_changes, first_difference

__all__ = ["MESSAGE_CHARS", "WorkerSettings", "check_state", "initialize", "run_state", "short_message"]

MESSAGE_CHARS = 500
_code: UserCode | None = None
_setup_error: str | None = None


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker loads at start (picklable: import paths, not objects)."""

    transform: str
    schema: str
    invariants: str | None
    idempotent: bool
    already_migrated: tuple[str, ...]
    base_dir: str


_settings: WorkerSettings | None = None


def initialize(settings: WorkerSettings) -> None:
    """Pool initializer: import the user's code once; its prints go to stderr, not our stdout.

    A failure is kept and reported for each state (a worker that died here would only be
    restarted, again and again)."""
    global _code, _settings, _setup_error
    os.dup2(2, 1)
    _settings = settings
    try:
        _code = load_code(settings.transform, settings.schema, settings.invariants, settings.already_migrated,
                          settings.base_dir)
    except Exception as exc:  # noqa: BLE001 - reported per state by check_state
        _setup_error = short_message(f"{type(exc).__name__}: {exc}")


def check_state(text: str) -> dict[str, Any]:
    """The pool's task: one state's JSON text in, its result row out (plain data)."""
    if _code is None or _settings is None:
        return _failed("transform_error", "worker_setup", None, _setup_error or "the worker was not initialized")
    start = time.perf_counter()
    result = run_state(_code, text, idempotent=_settings.idempotent)
    result["elapsed_ms"] = (time.perf_counter() - start) * 1000
    return result


def run_state(code: UserCode, text: str, *, idempotent: bool) -> dict[str, Any]:
    """Every step for one state; keys: outcome, error_kind, error_path, error_message, migrated,
    n_bytes_out, changes."""
    old = json.loads(text)
    try:
        out = code.transform(json.loads(text))
    except Exception as exc:  # noqa: BLE001 - the user's code may raise anything: it is this state's outcome
        return _failed("transform_error", type(exc).__name__, None, _described(exc))
    try:
        migrated_text = json.dumps(out, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        return _failed("transform_error", "not_serializable", None,
                       short_message(f"the transform returned {type(out).__name__}, which is not JSON: {exc}"))
    migrated = json.loads(migrated_text)
    base = {"migrated": migrated_text, "n_bytes_out": len(migrated_text.encode()),
            "changes": field_changes(old, migrated)}
    try:
        problem = code.validate(migrated)
    except Exception as exc:  # noqa: BLE001 - a custom validator of the user's model may raise anything
        problem = Problem(f"validator raised {type(exc).__name__}", "$", _described(exc))
    if problem is not None:
        return base | _failed("invalid", problem.kind, problem.path, short_message(problem.message))
    if code.invariants is not None:
        broken = _invariants(code, old, json.loads(migrated_text))
        if broken is not None:
            return base | _failed("invariant_broken", broken[0], None, broken[1])
    if idempotent:
        changed = _reapplied(code, migrated_text, migrated)
        if changed is not None:
            return base | _failed("changed_on_reapply", changed[0], changed[1], changed[2])
    return base | _failed("ok", None, None, None)


def _invariants(code: UserCode, old: Any, new: Any) -> tuple[str, str] | None:
    """(kind, message) of the first broken invariant; the function returns {name: holds}."""
    assert code.invariants is not None
    try:
        verdicts = code.invariants(old, new)
    except Exception as exc:  # noqa: BLE001 - invariants that cannot be evaluated do not hold
        return f"invariants raised {type(exc).__name__}", _described(exc)
    if not isinstance(verdicts, Mapping):
        return "invariants returned no mapping", (f"the invariants function must return a mapping of invariant"
                                                  f" name -> bool, not {type(verdicts).__name__}")
    broken = [str(name) for name, holds in verdicts.items() if holds is not True]
    if not broken:
        return None
    return broken[0], short_message("broken: " + "; ".join(broken))


def _reapplied(code: UserCode, migrated_text: str, migrated: Any) -> tuple[str, str | None, str] | None:
    """(kind, path, message) when transform(migrated) is not migrated and raises no known error."""
    try:
        again = code.transform(json.loads(migrated_text))
    except code.already_migrated:
        return None
    except Exception as exc:  # noqa: BLE001
        return f"reapply raised {type(exc).__name__}", None, _described(exc)
    try:
        again_text = json.dumps(again, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        return "reapply not serializable", None, short_message(f"transform(migrated) is not JSON: {exc}")
    if again_text == migrated_text:  # the common case, compared as text
        return None
    where = first_difference(migrated, json.loads(again_text))
    if where is None:
        return None
    return "changed", where.split(" ")[0], short_message(f"transform(migrated) differs from migrated at {where}")


def _described(exc: BaseException) -> str:
    """'KeyError: 'x' (at migrate.py:12 in upgrade)': the exception and where in the user's code."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return short_message(f"{type(exc).__name__}: {exc}{where}")


def short_message(text: str) -> str:
    """At most MESSAGE_CHARS characters, with PII and secrets replaced by placeholders."""
    text = _redactor().text(text[: 4 * MESSAGE_CHARS])  # redacted before the cut, so no half email survives
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


@functools.cache
def _redactor() -> Any:
    from harness.config import RedactionConfig
    from harness.redaction import Redactor

    return Redactor(RedactionConfig())


def _failed(outcome: str, kind: str | None, path: str | None, message: str | None) -> dict[str, Any]:
    return {"outcome": outcome, "error_kind": kind, "error_path": path, "error_message": message}
