"""Loading the TOML config: profiles merged over the base, then validated.

Every error names the file and the dotted key, e.g. `harness.toml: replay.concurency: unknown key`.
Profiles are partial overlays of the same sections, merged over the base before validation.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.agents.registry import AGENT_KINDS
from harness.config.models import HarnessConfig
from harness.errors import ConfigError


def load_config(path: str | Path, profile: str | None = None) -> HarnessConfig:
    """Read, merge the chosen profile and validate a TOML config file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}: not valid TOML: invalid UTF-8 (at line {line})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    config = parse_config(raw, profile=profile, source=str(path))
    return _anchored(config, path.resolve().parent)


def _anchored(config: HarnessConfig, base: Path) -> HarnessConfig:
    """Resolve the config's relative paths (db, judge templates, command cwd, a migration's JSON
    Schema file) against `base`."""

    def resolve(value: str | None) -> str | None:
        return value if value is None or Path(value).is_absolute() else str(base / value)

    updates: dict[str, Any] = {}
    if config.db:
        updates["db"] = resolve(config.db)
    if config.judge is not None and config.judge.templates_dir:
        updates["judge"] = config.judge.model_copy(update={"templates_dir": resolve(config.judge.templates_dir)})
    agents = {
        arm: agent.model_copy(update={"cwd": resolve(agent.cwd)})
        for arm, agent in config.agents.items()
        if agent.kind == "command" and agent.cwd
    }
    if agents:
        updates["agents"] = {**config.agents, **agents}
    migration = config.migration
    schema = migration.target_schema if migration is not None else None
    if migration is not None and schema and not re.fullmatch(r"[\w.]+:[\w.]+", schema):  # a file, not module:Model
        updates["migration"] = migration.model_copy(update={"target_schema": resolve(schema)})
    anchored = config.model_copy(update=updates)
    anchored._base_dir = base
    return anchored


def parse_config(raw: dict[str, Any], profile: str | None = None, source: str = "config") -> HarnessConfig:
    """Validate a config mapping; every profile is checked, the chosen one is applied."""
    base = _validate(raw, source, prefix="")
    for name, overlay in base.profiles.items():
        _validate(_merged(raw, overlay), source, prefix=f"profiles.{name}.", overlay=overlay)
    if profile is None:
        return base
    if profile not in base.profiles:
        have = ", ".join(sorted(base.profiles)) or "none"
        raise ConfigError(f"{source}: profile {profile!r} is not defined (profiles: {have})")
    return _validate(_merged(raw, base.profiles[profile]), source, prefix=f"profiles.{profile}.")


def _merged(raw: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(raw)
    _deep_update(merged, overlay)
    return merged


def _deep_update(target: dict[str, Any], overlay: dict[str, Any]) -> None:
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _validate(
    raw: dict[str, Any], source: str, prefix: str, overlay: dict[str, Any] | None = None
) -> HarnessConfig:
    try:
        return HarnessConfig.model_validate(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _clean_loc(first["loc"])
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        if first["type"] == "union_tag_not_found":  # an agent without `kind`
            loc, message = [*loc, "kind"], f"Field required (kinds: {', '.join(AGENT_KINDS)})"
        # Our own validators say "relative.key: message"; fold the path into the location.
        nested = re.match(r"^([A-Za-z_][\w.-]*): (.+)$", message, re.DOTALL) if first["type"] == "value_error" else None
        if nested:
            loc = [*loc, *nested.group(1).split(".")]
            message = nested.group(2)
        # An error inside a profile names the profile only when the key came from it.
        named = prefix if overlay is None or _has_path(overlay, loc) else ""
        where = f"{named}{'.'.join(loc)}" if loc else "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {where}: {message}{more}") from None


def _clean_loc(loc: tuple[Any, ...]) -> list[str]:
    """Drop pydantic's discriminator step (agents.prod.http.url -> agents.prod.url)."""
    parts = [str(p) for p in loc]
    if len(parts) > 2 and parts[0] == "agents" and parts[2] in AGENT_KINDS:
        del parts[2]
    return parts


def _has_path(tree: dict[str, Any], loc: list[str]) -> bool:
    node: Any = tree
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
