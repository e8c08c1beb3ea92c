"""The TOML config as pydantic models: loading and validation only.

Every error names the file and the dotted key, e.g. `harness.toml: replay.concurency: unknown key`.
Profiles are partial overlays of the same sections, merged over the base before validation.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import ConfigError
from harness.records import ARMS

__all__ = [
    "AgentConfig",
    "PythonAgentConfig",
    "HttpAgentConfig",
    "HttpResponseMap",
    "OpenAIAgentConfig",
    "CommandAgentConfig",
    "CapturedAgentConfig",
    "PriceConfig",
    "ReplayConfig",
    "HarnessConfig",
    "load_config",
    "parse_config",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AgentBase(_Section):
    model: str | None = None
    """Model name used for the price table when the agent does not report one."""
    timeout_s: float | None = Field(None, gt=0)
    """Per-call timeout for this agent; defaults to replay.timeout_s."""


class PythonAgentConfig(_AgentBase):
    kind: Literal["python"]
    callable: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    """`module:function`, sync or async, called with a Request."""


class HttpResponseMap(_Section):
    """Where each result field sits in the endpoint's JSON answer (dotted paths, list indexes allowed)."""

    output: str = "output"
    tool_calls: str = "tool_calls"
    input_tokens: str = "usage.input_tokens"
    output_tokens: str = "usage.output_tokens"
    cached_input_tokens: str = "usage.cached_input_tokens"
    cost_usd: str = "cost_usd"
    model: str = "model"
    error: str = "error"


class HttpAgentConfig(_AgentBase):
    kind: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = {}
    """Header values may use ${ENV_VAR}; they are expanded at call time and never stored."""
    body: dict[str, Any] | None = None
    """Body template; strings like "{{input}}" or "{{metadata.intent}}" are filled from the request."""
    response: HttpResponseMap = HttpResponseMap()
    max_response_bytes: int = Field(10_000_000, gt=0)


class OpenAIAgentConfig(_AgentBase):
    kind: Literal["openai"]
    base_url: str = Field(pattern=r"^https?://")
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (never the key itself)."""
    system_prompt: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)
    tools: list[dict[str, Any]] = []
    """Tool definitions offered to the model, in OpenAI's `tools` form."""


class CommandAgentConfig(_AgentBase):
    kind: Literal["command"]
    command: list[str] = Field(min_length=1)
    """argv; the request arrives as JSON on stdin, the result is read as JSON from stdout."""
    env: dict[str, str] = {}
    cwd: str | None = None

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        import shlex

        return shlex.split(value) if isinstance(value, str) else value


class CapturedAgentConfig(_AgentBase):
    kind: Literal["captured"]
    variant: str = "prod"
    """Which captured variant in the dataset answers for this arm."""


AgentConfig = Annotated[
    PythonAgentConfig | HttpAgentConfig | OpenAIAgentConfig | CommandAgentConfig | CapturedAgentConfig,
    Field(discriminator="kind"),
]
AGENT_KINDS = ("python", "http", "openai", "command", "captured")


class PriceConfig(_Section):
    """USD per one million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0)


class ReplayConfig(_Section):
    dataset: str | None = None
    repeats: int = Field(1, ge=1, le=100)
    """K samples per arm and request."""
    prod_repeat_fraction: float = Field(1.0, ge=0, le=1)
    """Share of requests that also get prod_repeat (stable per request id and seed); 0 disables it."""
    concurrency: int = Field(16, ge=1, le=4096)
    timeout_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(4, ge=1, le=20)
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    max_retry_after_s: float = Field(120.0, ge=0)
    budget_usd: float | None = Field(None, gt=0)
    max_tool_calls: int | None = Field(None, ge=0)
    drain_grace_s: float = Field(10.0, ge=0)
    seed: int = 0
    flush_interval_s: float = Field(1.0, gt=0)
    flush_rows: int = Field(2000, ge=1)


class HarnessConfig(_Section):
    db: str | None = None
    replay: ReplayConfig = ReplayConfig()
    agents: dict[str, AgentConfig] = {}
    prices: dict[str, PriceConfig] = {}
    profiles: dict[str, dict[str, Any]] = {}

    @model_validator(mode="after")
    def _arms(self) -> HarnessConfig:
        unknown = sorted(set(self.agents) - set(ARMS))
        if unknown:
            raise ValueError(f"unknown arm {unknown[0]!r} in [agents] (arms are {', '.join(ARMS)})")
        return self

    def agent_for(self, arm: str) -> AgentConfig:
        """The agent answering an arm; prod_repeat falls back to prod's agent."""
        if arm in self.agents:
            return self.agents[arm]
        if arm == "prod_repeat" and "prod" in self.agents:
            return self.agents["prod"]
        raise ConfigError(f"no agent configured for arm {arm!r}: add [agents.{arm}]")


def load_config(path: str | Path, profile: str | None = None) -> HarnessConfig:
    """Read, merge the chosen profile and validate a TOML config file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, profile=profile, source=str(path))


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
        return HarnessConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _clean_loc(first["loc"])
        # An error inside a profile names the profile only when the key came from it.
        named = prefix if overlay is None or _has_path(overlay, loc) else ""
        where = f"{named}{'.'.join(loc)}" if loc else "(top level)"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
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
