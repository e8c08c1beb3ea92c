"""Cost of a call: the agent's own figure when it reports one, else the price table.

The table ships with the package (prices.toml) and config `[prices."model"]` entries
override or extend it. Unknown model or missing usage gives no cost, never a guess.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from harness.config import PriceConfig
from harness.records import AgentResult

__all__ = ["PriceTable", "default_prices"]


@dataclass(frozen=True, slots=True)
class _Price:
    input: float
    output: float
    cached_input: float


class PriceTable:
    """Model name -> USD per 1M input / output / cached-input tokens."""

    def __init__(self, prices: dict[str, _Price]) -> None:
        self._prices = prices
        self._by_length = sorted(prices, key=len, reverse=True)

    @classmethod
    def with_overrides(cls, overrides: dict[str, PriceConfig]) -> PriceTable:
        prices = dict(default_prices()._prices)
        for model, p in overrides.items():
            prices[model] = _Price(p.input, p.output, p.input if p.cached_input is None else p.cached_input)
        return cls(prices)

    def lookup(self, model: str | None) -> _Price | None:
        if not model:
            return None
        if model in self._prices:
            return self._prices[model]
        for name in self._by_length:
            if model.startswith(name):
                return self._prices[name]
        return None

    def cost(self, result: AgentResult, fallback_model: str | None = None) -> float | None:
        """USD for one result, or None when the table cannot say."""
        if result.cost_usd is not None:
            return result.cost_usd
        price = self.lookup(result.model or fallback_model)
        usage = result.usage
        if price is None or usage.input_tokens is None or usage.output_tokens is None:
            return None
        cached = min(usage.cached_input_tokens or 0, usage.input_tokens)
        return (
            (usage.input_tokens - cached) * price.input
            + cached * price.cached_input
            + usage.output_tokens * price.output
        ) / 1_000_000


_DEFAULT: PriceTable | None = None


def default_prices() -> PriceTable:
    """The table that ships with the package."""
    global _DEFAULT
    if _DEFAULT is None:
        text = resources.files("harness").joinpath("prices.toml").read_text(encoding="utf-8")
        models = tomllib.loads(text)["models"]
        _DEFAULT = PriceTable(
            {
                name: _Price(p["input"], p["output"], p.get("cached_input", p["input"]))
                for name, p in models.items()
            }
        )
    return _DEFAULT
