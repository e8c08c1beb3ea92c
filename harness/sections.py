"""The base of every config section: unknown keys are errors, values are immutable once loaded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """A TOML table validated by pydantic: `extra="forbid"` makes a typo an error naming the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
