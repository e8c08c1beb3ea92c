"""The interval every statistic returns, and the argument checks they share."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval at ``level``."""

    estimate: float
    low: float
    high: float
    level: float

    @property
    def halfwidth(self) -> float:
        """Half the interval's width, (high - low) / 2."""
        return (self.high - self.low) / 2


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def _check_alternative(alternative: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")


def _nan_interval(level: float, estimate: float = math.nan) -> Interval:
    return Interval(float(estimate), math.nan, math.nan, level)


def _as_float(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr
