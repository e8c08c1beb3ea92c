"""The notebooks under notebooks/: committed clean, and they run top to bottom on a demo store."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import polars as pl
import pytest
from nbclient import NotebookClient

import harness
from harness.config import parse_config
from harness.demo.run import DEMO_DATASET
from harness.errors import ReplayError
from harness.replay import replay
from harness.store import Store
from tests.servers import unused_port

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
CELL_TIMEOUT_S = 120


def _explore_expectations(store: Store) -> list[str]:
    runs = store.runs()
    latest = runs.filter(pl.col("n_responses") > 0)["run_id"][0]
    verdict = store.verdict(latest)
    assert verdict is not None, "the demo gates every run"
    return [latest, f"verdict  {verdict['verdict']}", "No judge diagnostics", "share_below_0_2",
            f"skipped  {FAILED_RUN} (failed, no responses"]


def _compare_expectations(store: Store) -> list[str]:
    return [*store.runs()["run_id"].to_list(), "2 runs of demo-support", "changed status", "kind"]


FAILED_RUN = "failed-before-answering"


def _with_a_failed_latest_run(demo_db: Path, tmp_path: Path) -> Path:
    """A copy of the demo store whose newest run failed before any response (its agents are not there)."""
    copy = tmp_path / "demo-copy.duckdb"
    shutil.copyfile(demo_db, copy)
    down = {"kind": "http", "url": f"http://127.0.0.1:{unused_port()}/agent"}
    config = parse_config({"replay": {"dataset": DEMO_DATASET, "max_attempts": 1},
                           "agents": {"prod": down, "candidate": down}})
    with pytest.raises(ReplayError, match="preflight failed"):
        replay(config, store=Store(copy), run_id=FAILED_RUN, progress=False)
    return copy


# Texts each notebook's outputs must contain, derived from the demo store; a notebook missing
# here must still run without errors.
EXPECTED: dict[str, Callable[[Store], list[str]]] = {
    "explore_run.ipynb": _explore_expectations,
    "compare_runs.ipynb": _compare_expectations,
}


def _output_text(nb: nbformat.NotebookNode) -> str:
    """Every stream and plain-text or HTML output of the notebook's code cells, joined."""
    parts: list[str] = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                data = output.get("data", {})
                parts.extend(str(data[kind]) for kind in ("text/plain", "text/html") if kind in data)
    return "\n".join(parts)


def test_there_are_notebooks() -> None:
    """The two notebooks the README promises exist (so the parametrized tests are not vacuous)."""
    assert {p.name for p in NOTEBOOKS} >= set(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path: Path) -> None:
    """No outputs, no execution counts, no widget state, and the plain python3 kernelspec."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"
    assert "widgets" not in nb.metadata, f"{path.name} carries widget state"
    assert nb.metadata.get("kernelspec") == KERNELSPEC


@pytest.mark.timeout(600)  # the first test to ask for demo_db pays for building it
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_demo_store(path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                     tmp_path: Path) -> None:
    """Execute the notebook in notebooks/ with HARNESS_DB pointing at the demo store (the kernel
    inherits the environment): no cell may fail, the key findings must be in the outputs, and the
    plots are real images. explore_run gets a store whose latest run failed before answering
    (regression: it crashed with ColumnNotFoundError) and must explore the latest run with responses."""
    if path.name == "explore_run.ipynb":
        demo_db = _with_a_failed_latest_run(demo_db, tmp_path)
    monkeypatch.setenv("HARNESS_DB", str(demo_db))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails

    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    text = _output_text(nb)
    expect = EXPECTED.get(path.name)
    for needle in expect(harness.open_store(demo_db, read_only=True)) if expect else []:
        assert needle in text, f"{path.name}: {needle!r} not in the outputs"
    images = [o for cell in nb.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= MIN_PLOTS.get(path.name, 0), f"{path.name}: {len(images)} plots"


MIN_PLOTS = {"explore_run.ipynb": 4, "compare_runs.ipynb": 1}
"""explore_run: intervals, latency and cost, similarity vs the noise floor, the segment forest."""
