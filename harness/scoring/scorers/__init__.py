"""Every scorer, one module each: a module here that defines `SCORER` is registered.

A new scorer (with the metrics it produces and its default checks) is one new module in this
package plus its test; nothing else needs editing.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from harness.scoring.base import Scorer

__all__ = ["all_scorers"]


@cache
def all_scorers() -> tuple[Scorer, ...]:
    """The registered scorers in the order they run."""
    found: list[Scorer] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        scorer = getattr(module, "SCORER", None)
        if scorer is not None:
            found.append(scorer)
    names = [s.name for s in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"scorers registered twice: {sorted(duplicates)}")
    return tuple(sorted(found, key=lambda s: (s.order, s.name)))
