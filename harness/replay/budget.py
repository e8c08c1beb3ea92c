"""The run's budget for agent spend: what was spent, and whether one more call may start.

A call may start while the spend plus every call in flight (each estimated at the most
expensive valid answer so far) stays within the budget. A cost the harness does not believe
(negative, not finite, absurd) is never spent: the price table's cost stands in, else the most
expensive valid answer so far.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget"]


@dataclass
class Budget:
    limit_usd: float | None
    spent: float = 0.0
    max_cost: float = 0.0
    in_flight: int = 0

    def allows_one_more(self) -> bool:
        if self.limit_usd is None:
            return True
        return self.spent < self.limit_usd and self.spent + (self.in_flight + 1) * self.max_cost <= self.limit_usd

    @property
    def exhausted(self) -> bool:
        return self.limit_usd is not None and self.spent >= self.limit_usd

    def charge(self, cost: float | None, *, believed: bool = True) -> None:
        """Spend a call's cost; an unbelieved cost is charged at `cost` (the price table's, when
        known) or else at the most expensive valid answer so far, and never raises max_cost."""
        if not believed:
            self.spent += cost if cost is not None else self.max_cost
        elif cost is not None:
            self.spent += cost
            self.max_cost = max(self.max_cost, cost)
