"""A shared demo store for tests that read a realistic, fully scored and gated DuckDB file.

Use it from any test module (it is not in conftest.py on purpose)::

    from tests.demo_fixture import demo_db  # noqa: F401

    def test_something(demo_db: Path) -> None:
        store = harness.open_store(demo_db, read_only=True)
        ...

`demo_db` is the path of a DuckDB file holding the dataset "demo-support" (1,200 requests,
`harness.demo.run.DEMO_DATASET`) and two completed runs of it (`harness demo` run twice: first as
a user runs it, the command in a subprocess, whose output `demo_cli` holds; then in this process),
each replayed through prod, prod_repeat and candidate, scored (embeddings and tool checks, no
judge) and gated. Each run's HTML report is in `demo_db.parent / "reports"`, named after the run
id. The newest run is row 0 of `store.runs()`.

It is built once per test session (a minute or two, with the demo agents' sleeps scaled down by
`HARNESS_DEMO_LATENCY_SCALE=0.5`) and shared: treat it as read-only. A test that needs to write
should copy the file to its own tmp_path first. The first test to request it pays for the
build, so give it room: `@pytest.mark.timeout(600)`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.procs import run_harness

__all__ = ["demo_db", "demo_cli", "build_demo_db", "DEMO_RUNS", "DEMO_LATENCY_SCALE", "DEMO_REFUNDS_RECEIVED"]

DEMO_RUNS = 2
# Half the demo's latencies: the candidate's planted slow tail must stay well
# above the event-loop lag a busy machine adds to both arms; at 0.1 a CPU-bound process beside the
# suite once pulled the p99 ratio under its 1.5x gate.
DEMO_LATENCY_SCALE = "0.5"

# The fixture function is imported into several test modules, and pytest makes one fixture
# definition per module that holds it; this cache keeps it to one build per session anyway.
_built: dict[str, tuple[Path, subprocess.CompletedProcess[str]]] = {}
#: Refund requests the demo's payments service received in each demo run of the build (all 0: blocked).
DEMO_REFUNDS_RECEIVED: list[int] = []


def build_demo_db(workdir: Path, runs: int = DEMO_RUNS) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Run the whole demo `runs` times in `workdir`: `harness demo` as a command, then in this process.

    Returns the DuckDB path and the command's result. HARNESS_DEMO_LATENCY_SCALE is
    DEMO_LATENCY_SCALE for both (set while building and restored after).
    """
    from harness.demo.run import run_demo

    cli = run_harness("demo", "--workdir", str(workdir), HARNESS_DEMO_LATENCY_SCALE=DEMO_LATENCY_SCALE, timeout=400)
    assert cli.returncode == 0, cli.stderr
    received = re.search(r"payments service: ([\d,]+) refund requests received", cli.stdout)
    assert received is not None, cli.stdout
    DEMO_REFUNDS_RECEIVED.append(int(received.group(1).replace(",", "")))
    saved = os.environ.get("HARNESS_DEMO_LATENCY_SCALE")
    os.environ["HARNESS_DEMO_LATENCY_SCALE"] = DEMO_LATENCY_SCALE
    try:
        for _ in range(runs - 1):
            DEMO_REFUNDS_RECEIVED.append(run_demo(workdir, progress=False).refunds_received)
    finally:
        if saved is None:
            os.environ.pop("HARNESS_DEMO_LATENCY_SCALE", None)
        else:
            os.environ["HARNESS_DEMO_LATENCY_SCALE"] = saved
    return workdir / "harness.duckdb", cli


def _build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    if "db" not in _built:
        _built["db"] = build_demo_db(tmp_path_factory.mktemp("demo"))
    return _built["db"]


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a session-wide demo DuckDB file: dataset "demo-support", two scored, gated runs."""
    return _build(tmp_path_factory)[0]


@pytest.fixture(scope="session")
def demo_cli(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """What the first `harness demo` of the session demo store printed (its run is the oldest)."""
    return _build(tmp_path_factory)[1]
