"""Every agent kind, one module each: a module of this package that exports `AGENT` is a kind.

The registry builds the discriminated union of the kinds' configs (what `[agents.*]` accepts)
and `build_agent`; an unknown kind is an error naming the known ones. Adapter modules import
their heavy clients (aiohttp, openai) inside the functions that use them, so reading a config
costs no client import.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.agents.base import Agent, AgentContext, AgentSettings

__all__ = ["agent_classes", "AGENT_KINDS", "AgentConfig", "build_agent", "import_libraries"]


@cache
def agent_classes() -> dict[str, type[Agent]]:
    """Agent classes by kind, from every module of harness.agents that exports `AGENT`."""
    found: dict[str, type[Agent]] = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("_") or info.name in ("base", "registry"):
            continue
        cls = getattr(importlib.import_module(f"harness.agents.{info.name}"), "AGENT", None)
        if cls is None:
            continue
        if cls.kind in found:
            raise RuntimeError(f"agent kind {cls.kind!r} is defined twice ({found[cls.kind].__module__}, {cls.__module__})")
        found[cls.kind] = cls
    return dict(sorted(found.items()))


AGENT_KINDS: tuple[str, ...] = tuple(agent_classes())
_configs: tuple[type[AgentSettings], ...] = tuple(cls.config_model for cls in agent_classes().values())
AgentConfig: Any = Annotated[Union[_configs], Field(discriminator="kind")]  # noqa: UP007 - a runtime tuple
"""The `[agents.<arm>]` section: one of the kinds' configs, chosen by its `kind`."""


def build_agent(config: AgentSettings, context: AgentContext) -> Agent:
    """The adapter for `config.kind`, configured but not yet started."""
    kind = getattr(config, "kind", None)
    cls = agent_classes().get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigError(f"unknown agent kind {kind!r} (kinds: {', '.join(AGENT_KINDS)})")
    return cls(config, context)  # type: ignore[call-arg, arg-type]  # every kind takes (config, context)


def import_libraries(kinds: Iterable[str]) -> None:
    """Import the client libraries the agents of these kinds load in start(): a replay does it
    while a thread opens its run in the store, so the two overlap. A library that is missing, or
    fails as it is imported, is left for start() to import again and report, where the replay
    marks its run failed (a failed import leaves nothing in sys.modules)."""
    for kind in set(kinds):
        cls = agent_classes().get(kind)
        for module in cls.libraries if cls is not None else ():
            with contextlib.suppress(Exception):
                importlib.import_module(module)
