"""Agent adapters, one per kind; `build_agent` turns a config section into an Agent."""

from __future__ import annotations

from harness.agents.base import Agent, AgentContext
from harness.config import AgentConfig

__all__ = ["Agent", "AgentContext", "build_agent"]


def build_agent(config: AgentConfig, context: AgentContext) -> Agent:
    """The adapter for `config.kind`, configured but not yet started."""
    if config.kind == "python":
        from harness.agents.python_callable import PythonAgent

        return PythonAgent(config, context)
    if config.kind == "http":
        from harness.agents.http import HttpAgent

        return HttpAgent(config, context)
    if config.kind == "openai":
        from harness.agents.openai_chat import OpenAIAgent

        return OpenAIAgent(config, context)
    if config.kind == "command":
        from harness.agents.command import CommandAgent

        return CommandAgent(config, context)
    from harness.agents.captured import CapturedAgent

    return CapturedAgent(config, context)
