"""polars for the store's modules, imported the first time one of them uses it: a command that only
lists runs (`harness runs`) never loads it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness._lazy import lazy_module

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

__all__ = ["pl"]
