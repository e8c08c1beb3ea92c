"""Names and modules imported on first use, so `import harness` (or validating a config) does not
pay for numpy, scipy or torch, nor `harness runs` for polars, until something needs them."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`: each name in `where` comes from its module
    the first time it is asked for, and is kept in the package from then on."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


class _OnFirstUse(types.ModuleType):
    """Stands for a module until one of its names is read; then imports it (under the import
    system's own lock) and keeps each name it hands out."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(importlib.import_module(self.__name__), name)
        setattr(self, name, value)
        return value


def lazy_module(name: str) -> Any:
    """Module `name`, or a stand-in that imports it the first time one of its names is used."""
    return sys.modules.get(name) or _OnFirstUse(name)
