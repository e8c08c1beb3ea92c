"""The `[migration]` section: the state-migration check and its gate."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from harness.sections import Section


class MigrationConfig(Section):
    """A blue-green state migration: the check `harness migrate-check` runs, and the gate
    `migration_error_rate` that enters the verdict when this section names the check."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    check: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    """The check id: migrate-check writes its results under it, the gate reads them."""
    states: str | None = None
    """The state set to migrate (`harness ingest-states --name`)."""
    transform: str | None = Field(None, pattern=r"^[\w.]+:[\w.]+$")
    """`module:function` taking a v1 state (a dict) and returning the v2 state."""
    target_schema: str | None = Field(None, alias="schema")
    """A JSON Schema file (relative to the config) or `module:Model` (a pydantic model)."""
    invariants: str | None = Field(None, pattern=r"^[\w.]+:[\w.]+$")
    """`module:function` taking (v1 state, v2 state) and returning {invariant name: holds}."""
    idempotent: bool = False
    """The transform is declared idempotent: transform(migrated) must equal migrated."""
    already_migrated: list[Annotated[str, Field(pattern=r"^[\w.]+:[\w.]+$")]] = []
    """`module:ExceptionClass` a re-applied transform may raise instead (meaning: already migrated)."""
    sample: int | None = Field(None, ge=1)
    """Check only the N users the canary reaches first (stable hash)."""
    cohorts: list[Annotated[float, Field(gt=0, le=100)]] = []
    """Canary steps in percent of users; only users within the largest are checked."""
    timeout_s: float = Field(10.0, gt=0)
    """Per state: transform, validation, invariants and re-apply together."""
    workers: int | None = Field(None, ge=1, le=256)
    """Worker processes (default: one per CPU)."""
    max_error_rate: float = Field(0.0, ge=0, le=1)
    """migration_error_rate's threshold: the share of checked states whose outcome is not ok."""
    severity: Literal["critical", "warning"] = "critical"

    @model_validator(mode="after")
    def _sample_or_cohorts(self) -> MigrationConfig:
        if self.sample is not None and self.cohorts:
            raise ValueError("give either sample or cohorts, not both")
        return self
