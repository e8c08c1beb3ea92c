"""The user's code for a migration check, loaded by import path: transform, target schema,
invariants and the errors a re-applied transform may raise. Loaded once per worker process
(and once in the parent, so a typo fails before any work starts).

The target schema is a JSON Schema file (validated with `jsonschema`, the draft its `$schema`
names) or `module:Model`, a pydantic model (or a dict holding a JSON Schema). Each problem is
reported with the path of the offending field and the validator's message.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.migration.fields import child_path

__all__ = ["IMPORT_PATH", "Problem", "UserCode", "code_digest", "load_code"]

IMPORT_PATH = re.compile(r"^[\w.]+:[\w.]+$")
_MAX_ERRORS = 50  # errors a JSON Schema validator lists before the most relevant is picked


@dataclass(frozen=True)
class Problem:
    """Why a migrated state does not fit the target schema: validator kind, field path, message."""

    kind: str
    path: str
    message: str


Validator = Callable[[Any], Problem | None]


@dataclass(frozen=True)
class UserCode:
    transform: Callable[[Any], Any]
    validate: Validator
    invariants: Callable[[Any, Any], Any] | None
    already_migrated: tuple[type[BaseException], ...]
    files: tuple[str, ...]
    """Files the code came from (modules and schema), for the check's code digest."""


def load_code(transform: str, schema: str, invariants: str | None, already_migrated: tuple[str, ...],
              base_dir: str) -> UserCode:
    """Import everything a check runs; ConfigError naming the config key when something is wrong."""
    if base_dir not in sys.path:
        sys.path.insert(0, base_dir)
    files: list[str] = []
    fn = _load(transform, "`migration.transform`", files)
    if not callable(fn):
        raise ConfigError(f"`migration.transform` {transform!r} is not callable")
    check = _load(invariants, "`migration.invariants`", files) if invariants else None
    if check is not None and not callable(check):
        raise ConfigError(f"`migration.invariants` {invariants!r} is not callable")
    known = []
    for spec in already_migrated:
        error = _load(spec, "`migration.already_migrated`", files)
        if not (isinstance(error, type) and issubclass(error, Exception)):
            raise ConfigError(f"`migration.already_migrated` {spec!r} is not an exception class")
        known.append(error)
    return UserCode(fn, _validator(schema, base_dir, files), check, tuple(known), tuple(dict.fromkeys(files)))


def code_digest(code: UserCode) -> str:
    """sha256 over the source files of the check's code: a changed transform is a different check."""
    hasher = hashlib.sha256()
    for name in code.files:
        hasher.update(name.encode() + b"\0")
        try:
            hasher.update(Path(name).read_bytes())
        except OSError:
            hasher.update(b"unreadable")
    return hasher.hexdigest()


def _load(spec: str, option: str, files: list[str]) -> Any:
    if not IMPORT_PATH.fullmatch(spec):
        raise ConfigError(f"{option} {spec!r}: expected module:name")
    module_name, _, attr_path = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - a broken user module is a config problem, named as such
        raise ConfigError(f"{option} {spec!r}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    if getattr(target, "__file__", None):
        files.append(target.__file__)
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{option} {spec!r}: {module_name} has no attribute {attr_path!r}")
        target = getattr(target, part)
    return target


def _validator(spec: str, base_dir: str, files: list[str]) -> Validator:
    path = Path(spec) if Path(spec).is_absolute() else Path(base_dir) / spec
    if path.is_file():
        files.append(str(path))
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"`migration.schema` {spec}: not a readable JSON file: {exc}") from None
        return _json_schema(schema, spec)
    if not IMPORT_PATH.fullmatch(spec):
        raise ConfigError(f"`migration.schema` {spec!r}: no such file, and not module:Model")
    target = _load(spec, "`migration.schema`", files)
    if isinstance(target, dict):
        return _json_schema(target, spec)
    from pydantic import BaseModel

    if isinstance(target, type) and issubclass(target, BaseModel):
        return _pydantic(target)
    raise ConfigError(f"`migration.schema` {spec!r} is neither a pydantic model nor a JSON Schema dict")


def _json_schema(schema: Any, spec: str) -> Validator:
    import jsonschema
    from jsonschema.exceptions import SchemaError, best_match

    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(f"`migration.schema` {spec}: not a valid JSON Schema: {exc.message}") from None
    validator = cls(schema)

    def validate(value: Any) -> Problem | None:
        errors = validator.iter_errors(value)
        first = best_match(error for _, error in zip(range(_MAX_ERRORS), errors, strict=False))
        if first is None:
            return None
        exact = _path(first.absolute_path, numbered=True)
        return Problem(str(first.validator), _path(first.absolute_path), f"at {exact}: {first.message}")

    return validate


def _pydantic(model: Any) -> Validator:
    from pydantic import ValidationError

    def validate(value: Any) -> Problem | None:
        try:
            model.model_validate(value)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            return Problem(first["type"], _path(first["loc"]),
                           f"at {_path(first['loc'], numbered=True)}: {first['msg']}{more}")
        return None

    return validate


def _path(parts: Any, numbered: bool = False) -> str:
    """$.a.b[3].c (numbered) or $.a.b[].c: list positions are one field for grouping."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]" if numbered else "[]"
        else:
            out = child_path(out, str(part))
    return out
