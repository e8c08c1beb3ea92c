"""The `[tools]` section: which tools are actions (`write`), how their arguments compare, and
what the replay's tool sandbox does with each tool's calls (`[tools.sandbox]`, `[tools.policies]`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from harness.sections import Section

ToolPolicy = Literal["replay", "block", "live", "emulate"]
MissPolicy = Literal["error", "block", "live", "emulate"]


class ToolArgumentsConfig(Section):
    """How tool-call arguments are compared (action scorers and the tool sandbox alike).

    An argument is named `name` (any tool) or `tool.name` (one tool)."""

    ignore: list[str] = []
    """Arguments left out of comparisons: ids the agent invents, timestamps."""
    unordered: list[str] = []
    """List-valued arguments compared as multisets (order does not matter)."""
    case_sensitive: bool = False
    numbers_from_strings: bool = True
    """"3" and 3 are the same value."""


class ToolPolicyConfig(Section):
    """What the sandbox does with the calls of one tool (a name or a glob pattern)."""

    policy: ToolPolicy | None = None
    """`replay` (default for read tools), `block` (default for write tools), `live` or `emulate`."""
    on_miss: MissPolicy | None = None
    """For a call no recording matches; defaults to tools.sandbox.on_miss."""
    stub: Any = None
    """The JSON a blocked call answers; default `{"status": "blocked", "tool": ...}`."""
    stub_from_recording: bool = True
    """A blocked call answers with the matched recording's result when there is one."""
    url: str | None = None
    """The live endpoint (`POST url` with the JSON arguments), for `live` and a `live` miss."""
    allow_live_write: bool = False
    """A `write` tool may reach its live endpoint only with this set (else: a critical finding)."""
    description: str | None = None
    """For the tool's definition (openai agents, MCP); else inferred from the recordings."""
    parameters: dict[str, Any] | None = None
    """The arguments' JSON schema; else inferred from the recordings."""


class EmulatorConfig(Section):
    """The OpenAI-compatible model that invents plausible results for the `emulate` policy."""

    base_url: str = Field(pattern=r"^https?://")
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (never the key itself)."""
    temperature: float = Field(0.0, ge=0, le=2)
    timeout_s: float = Field(30.0, gt=0)


class SandboxConfig(Section):
    """The replay's tool sandbox: recorded results served, writes blocked, every call stored."""

    enabled: bool = True
    recordings: str = "prod"
    """The captured variant whose tool calls are served as recordings."""
    on_miss: MissPolicy = "error"
    """A call no recording matches: `error` (the agent gets an error), `block` (the stub), `live` or
    `emulate`."""
    max_result_chars: int = Field(4000, ge=0)
    """Results and arguments longer than this are stored as a digest (sha256) in tool_events."""
    live_timeout_s: float = Field(10.0, gt=0)
    mcp: bool = False
    """Also serve the tools over MCP (streamable HTTP): `{{mcp_url}}` / HARNESS_MCP_URL for agents."""
    emulator: EmulatorConfig | None = None
    """The model behind the `emulate` policy; required when any policy or on_miss is `emulate`."""


class ToolsConfig(Section):
    """Which tools change state (`write`: actions) and which only read; names or glob patterns.

    Not listed: a heuristic on the name decides (get_/search_/lookup_/... read), and a tool it
    does not recognise counts as write, the safe side."""

    read: list[str] = []
    write: list[str] = []
    arguments: ToolArgumentsConfig = Field(default_factory=ToolArgumentsConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    policies: dict[str, ToolPolicyConfig] = {}
    """Per tool name or glob pattern (an exact name beats a pattern; patterns in file order)."""

    @model_validator(mode="after")
    def _emulator_when_emulating(self) -> ToolsConfig:
        uses = [f"policies.{n}" for n, p in self.policies.items() if "emulate" in (p.policy, p.on_miss)]
        uses += ["sandbox.on_miss"] if self.sandbox.on_miss == "emulate" else []
        if uses and self.sandbox.emulator is None:
            raise ValueError(f"{uses[0]} is 'emulate', which needs [tools.sandbox.emulator] (base_url, model)")
        return self

    def classifier(self) -> Any:
        from harness.tools.classes import ToolClassifier

        return ToolClassifier(tuple(self.read), tuple(self.write))

    def normalizer(self) -> Any:
        from harness.tools.arguments import ArgumentNormalizer

        a = self.arguments
        return ArgumentNormalizer.from_lists(a.ignore, a.unordered, case_sensitive=a.case_sensitive,
                                             numbers_from_strings=a.numbers_from_strings)
