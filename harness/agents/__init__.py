"""Agent adapters, one module per kind, collected by the registry; `build_agent` turns a config
section into an Agent."""

from harness.agents.base import Agent, AgentContext, AgentSettings, CallContext
from harness.agents.registry import AGENT_KINDS, AgentConfig, agent_classes, build_agent, import_libraries

__all__ = ["Agent", "AgentContext", "AgentSettings", "CallContext", "AGENT_KINDS", "AgentConfig", "agent_classes",
           "build_agent", "import_libraries"]
