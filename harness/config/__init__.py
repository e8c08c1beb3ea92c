"""The TOML config as pydantic models: loading and validation only.

Every error names the file and the dotted key, e.g. `harness.toml: replay.concurency: unknown key`.
"""

from harness.agents.registry import AgentConfig
from harness.config.loading import load_config, parse_config
from harness.config.migration import MigrationConfig
from harness.config.models import (
    CanaryConfig,
    CheckConfig,
    GatesConfig,
    HarnessConfig,
    JudgeConfig,
    PriceConfig,
    RedactionConfig,
    ReleaseConfig,
    ReplayConfig,
    ScoringConfig,
)
from harness.config.tools import ToolArgumentsConfig, ToolsConfig

__all__ = [
    "AgentConfig",
    "CanaryConfig",
    "CheckConfig",
    "GatesConfig",
    "HarnessConfig",
    "JudgeConfig",
    "MigrationConfig",
    "PriceConfig",
    "RedactionConfig",
    "ReleaseConfig",
    "ReplayConfig",
    "ScoringConfig",
    "ToolArgumentsConfig",
    "ToolsConfig",
    "load_config",
    "parse_config",
]
