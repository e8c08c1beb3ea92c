"""The type checker run beside the suite: in a single-process run, mypy starts as soon as collection
selects its test, on the core the other tests leave idle while they wait on servers and subprocesses,
and its test only collects the result. Under `make test`'s two xdist workers both cores are busy
anyway, so there the test starts mypy itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST = "test_the_type_checker_passes"
_RUN = pytest.StashKey[subprocess.Popen[str]]()


def start() -> subprocess.Popen[str]:
    """mypy on the package (config in pyproject), its cache in the environment so a test run leaves
    nothing behind in the repository."""
    cache = Path(sys.prefix) / ".mypy_cache"
    return subprocess.Popen([sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(cache)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def pytest_collection_finish(session: pytest.Session) -> None:
    # An xdist worker collects every test but runs only some: there the test starts mypy itself
    # (both cores are busy with tests anyway).
    if hasattr(session.config, "workerinput"):
        return
    if any(item.name == TEST for item in session.items):
        session.config.stash[_RUN] = start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(_RUN, None)
    if run is not None and run.poll() is None:  # the session ended before its test: stop it
        run.kill()
        run.communicate()


@pytest.fixture
def type_check(request: pytest.FixtureRequest) -> tuple[int, str]:
    """(exit code, what mypy printed) of the run started at collection (or of one started now)."""
    run = request.config.stash.get(_RUN, None) or start()
    out, err = run.communicate()
    return run.returncode, out[-8000:] + err[-2000:]
