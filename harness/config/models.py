"""The config's sections as pydantic models; `HarnessConfig` is the whole file.

Validation is strict about types, as TOML values are typed: `concurrency = true` or
`concurrency = "8"` is an error, not 1 or 8.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from harness.agents.registry import AgentConfig
from harness.config.migration import MigrationConfig
from harness.config.tools import ToolsConfig
from harness.errors import ConfigError
from harness.records import ARMS
from harness.sections import Section


class PriceConfig(Section):
    """USD per one million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0)


class _RetrySettings(Section):
    """Per-call timeout and retry policy, shared by replay and the judge (see harness.retry)."""

    timeout_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(4, ge=1, le=20)
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    max_retry_after_s: float = Field(120.0, ge=0)


class ReplayConfig(_RetrySettings):
    dataset: str | None = None
    repeats: int = Field(1, ge=1, le=100)
    """K samples per arm and request."""
    prod_repeat_fraction: float = Field(1.0, ge=0, le=1)
    """Share of requests that also get prod_repeat (stable per request id and seed); 0 disables it."""
    concurrency: int = Field(16, ge=1, le=4096)
    budget_usd: float | None = Field(None, gt=0)
    max_tool_calls: int | None = Field(None, ge=0)
    drain_grace_s: float = Field(10.0, ge=0)
    seed: int = 0
    flush_interval_s: float = Field(1.0, gt=0)
    flush_rows: int = Field(2000, ge=1)
    sequential: bool = False
    """Replay in waves, in a random order fixed by the seed, and stop once the anytime-valid gates decide."""
    wave_size: int = Field(100, ge=1)
    """Sequential replay: requests per wave (whole users or sessions, so a wave may hold a few more)."""
    preflight: bool = True
    """Call each http, openai and command agent once before a replay; stop when one cannot answer."""
    preflight_request: str | None = None
    """The request id the preflight sends (default: the dataset's first requests, up to three)."""


class ScoringConfig(Section):
    """How responses are scored; its presence makes `harness replay` score right after."""

    embedding_model: str = "all-MiniLM-L6-v2"
    """A sentence-transformers model name or local path; the default ships with the package."""
    device: str = Field("cpu", pattern=r"^(cpu|auto|cuda(:\d+)?)$")
    """"cpu", "cuda" (or "cuda:N"), or "auto" (the GPU when torch sees one, else the CPU)."""
    batch_size: int | None = Field(None, ge=1, le=4096)
    """Texts per forward pass; unset: 64 on the CPU, 128-512 on a GPU depending on its free memory."""
    backend: Literal["torch", "onnx", "onnx-int8"] = "torch"
    """How the model runs: torch, or ONNX Runtime on the CPU (exported once from the local weights, cached)."""
    cache_dir: str | None = None
    """Where exported ONNX models are kept; unset: $HARNESS_CACHE_DIR, else ~/.cache/harness."""
    executor: Literal["local", "ray"] = "local"
    """Who encodes the texts the embedding cache lacks: this process, or a Ray Data actor pool."""
    ray_address: str = "auto"
    """The Ray cluster for executor "ray": "auto" (the running local cluster), "HOST:PORT" or "ray://HOST:PORT"."""
    concurrency: int = Field(2, ge=1, le=4096)
    """Executor "ray": at most this many model actors (the pool shrinks to what the cluster can run)."""
    num_gpus: float = Field(0.0, ge=0)
    """Executor "ray": GPUs per actor (0: actors run on CPUs)."""
    max_text_chars: int = Field(20_000, ge=100)
    """Longer outputs, references and questions are cut to this many characters before the embedder and the judge
    see them (the cut is recorded in the score details and the judgment rows)."""
    reference_variant: str | None = None
    """Opt-in: a captured variant whose tool calls serve as the reference where a request has
    none of its own. Off by default: scoring prod against its own calls would give it a perfect
    score on requests without a reference."""
    human_preference_key: str | None = None
    """Metadata key holding a human's preferred arm ("prod", "candidate" or "tie")."""
    human_rating_key: str | None = None
    """Metadata key holding a human 1-5 rating of the captured/prod answer."""


class JudgeConfig(_RetrySettings):
    """An LLM judge on any OpenAI-compatible chat API (OpenAI, vLLM, Ollama, llama.cpp, ...)."""

    base_url: str = Field(pattern=r"^https?://")
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    """Name of the environment variable holding the key (never the key itself)."""
    pointwise: bool = True
    """Score each prod and candidate answer 1-10 against the rubric."""
    pairwise: bool = True
    """Compare prod with candidate (and prod with prod_repeat), twice, positions swapped."""
    rubric: str | None = None
    """Your own rubric for pointwise scoring; the default judges a helpful, correct, grounded answer."""
    templates_dir: str | None = None
    """A directory with your own pointwise.j2 / pairwise.j2 templates (with a version line)."""
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(400, gt=0)
    concurrency: int = Field(8, ge=1, le=1024)


class CheckConfig(Section):
    """One gate: a metric, a statistic, one threshold (max or min) and a severity.

    For a default check every key is optional (only what you change); a new check needs
    metric, statistic and a threshold. `enabled = false` removes a check.
    """

    metric: str | None = None
    statistic: str | None = None
    max: float | None = None
    min: float | None = None
    severity: Literal["critical", "warning"] | None = None
    enabled: bool = True
    description: str | None = None

    @model_validator(mode="after")
    def _one_threshold(self) -> CheckConfig:
        if self.max is not None and self.min is not None:
            raise ValueError("give either max or min, not both")
        return self


class GatesConfig(Section):
    """Settings of the quality gates and the checks that add to, change or remove the defaults."""

    alpha: float = Field(0.05, gt=0, lt=0.5)
    """1 - confidence level of every interval (0.05: 95% intervals)."""
    power: float = Field(0.8, gt=0, lt=1)
    """Power used for minimum detectable effects."""
    n_bootstrap: int = Field(2000, ge=200, le=100_000)
    min_requests: int = Field(30, ge=2)
    """Fewer paired requests than this gives a check the status nodata."""
    cluster_by: Literal["user_id", "session_id", "none"] = "user_id"
    """Requests of one user (or session) move together in the bootstrap; missing ids fall back to the request."""
    segment_keys: list[str] = ["intent", "tier", "flags"]
    """Metadata keys to split by; an object-valued key (flags) splits by each of its entries."""
    min_segment_requests: int = Field(20, ge=2)
    correction: Literal["bh", "holm"] = "bh"
    """Multiple-testing correction across segments: Benjamini-Hochberg or Holm."""
    seed: int = 0
    judge_min_swap_consistency: float = Field(0.6, ge=0, le=1)
    """Below this share of pairwise judgments that agree when positions are swapped, the judge is unreliable."""
    judge_max_repeat_bias: float = Field(0.15, ge=0, le=0.5)
    """prod vs prod_repeat should be a coin flip: a win rate further than this from 0.5 makes the judge unreliable."""
    judge_max_length_bias: float = Field(0.3, ge=0, le=0.5)
    """The longer answer winning (or scoring higher) further than this from 0.5 makes the judge unreliable."""
    checks: dict[str, CheckConfig] = {}

    @model_validator(mode="after")
    def _known_checks(self) -> GatesConfig:
        if self.checks:  # the defaults alone need no check (nor the scorers' import, which loads polars)
            from harness.gates.catalogue import resolve_checks

            resolve_checks(self.checks)
        return self


class CanaryConfig(Section):
    """The canary rollout plan: steps in percent of users, and how long each step runs."""

    steps: list[Annotated[float, Field(gt=0, le=100)]] = Field([5, 20, 50, 100], min_length=1)
    duration_h: float = Field(24.0, gt=0)
    salt: str = "canary"
    """Part of the user hash: change it to draw a different cohort."""
    log_sample_rate: float = Field(1.0, gt=0, le=1)
    """The share of production traffic the captured log holds (0.01 for a 1% sample)."""


class ReleaseConfig(Section):
    """What the release report's checklist needs from people, not from data."""

    name: str | None = None
    """The release under review, e.g. "support-agent v2.3"."""
    rollback_plan: str | None = None
    dashboards: list[str] = []
    """Monitoring dashboards (URLs or names)."""
    alert_thresholds: str | None = None
    on_call: str | None = None
    post_deploy: list[str] = []
    """Extra post-deploy items, after the standard ones."""


class RedactionConfig(Section):
    """What ingest redacts when asked to (`harness ingest --redact`, or this section in --config)."""

    kinds: list[Literal["email", "phone", "card", "ip", "api_key"]] = ["email", "phone", "card", "ip", "api_key"]
    patterns: dict[str, str] = {}
    """Your own: placeholder name -> regular expression, e.g. EMPLOYEE_ID = "E\\d{6}"."""
    salt: str = ""
    """Mixed into the pseudonyms of user and session ids."""

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{name}: not a valid regular expression: {exc}") from None
        return patterns


class HarnessConfig(Section):
    db: str | None = None
    replay: ReplayConfig = Field(default_factory=ReplayConfig)
    agents: dict[str, AgentConfig] = {}
    prices: dict[str, PriceConfig] = {}
    scoring: ScoringConfig | None = None
    judge: JudgeConfig | None = None
    gates: GatesConfig = Field(default_factory=GatesConfig)
    canary: CanaryConfig = Field(default_factory=CanaryConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    redaction: RedactionConfig | None = None
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    migration: MigrationConfig | None = None
    profiles: dict[str, dict[str, Any]] = {}
    _base_dir: Path = PrivateAttr(default_factory=lambda: Path("."))

    @property
    def base_dir(self) -> Path:
        """The config file's directory: relative paths in the config, and python agent modules,
        resolve from here."""
        return self._base_dir

    @model_validator(mode="after")
    def _arms(self) -> HarnessConfig:
        unknown = sorted(set(self.agents) - set(ARMS))
        if unknown:
            raise ValueError(f"agents.{unknown[0]}: unknown arm {unknown[0]!r} (arms are {', '.join(ARMS)})")
        return self

    def agent_for(self, arm: str) -> AgentConfig:
        """The agent answering an arm; prod_repeat falls back to prod's agent."""
        if arm in self.agents:
            return self.agents[arm]
        if arm == "prod_repeat" and "prod" in self.agents:
            return self.agents["prod"]
        raise ConfigError(f"no agent configured for arm {arm!r}: add [agents.{arm}]")
