"""How `make test` splits the suite over two pytest-xdist workers (`-n 2 --dist loadfile`).

A test module runs on one worker, so its module fixtures are built once; and every module that
uses the session demo store (names its fixture `demo_db` or `demo_cli`) runs on the same worker, so the demo,
the suite's most expensive fixture, is built once. (xdist's own `--dist loadgroup` cannot do this
under pytest 9.2: it renames node ids through an attribute pytest no longer reads.)
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

_DEMO_GROUP = "the session demo store"


@cache
def _group(module: str) -> str:
    """The worker group of a test module (a path relative to the root directory)."""
    path = Path(__file__).resolve().parents[1] / module
    uses_demo = path.suffix == ".py" and path.exists() and re.search(r"\bdemo_(db|cli)\b", path.read_text("utf-8"))
    return _DEMO_GROUP if uses_demo else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With `--dist loadfile`: whole modules per worker, and the demo store's modules together."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid.split("::", 1)[0])

    return ByModule(config, log)
