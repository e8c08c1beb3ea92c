"""The notebooks under notebooks/: committed clean, and they run top to bottom on a demo store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import harness
from harness.store import Store

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
CELL_TIMEOUT_S = 120


def _explore_expectations(store: Store) -> list[str]:
    latest = store.runs()["run_id"][0]
    verdict = store.verdict(latest)
    assert verdict is not None, "the demo gates every run"
    return [latest, f"verdict  {verdict['verdict']}", "No judge diagnostics", "share_below_0_2"]


def _compare_expectations(store: Store) -> list[str]:
    return [*store.runs()["run_id"].to_list(), "2 runs of demo-support", "changed status"]


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
def test_notebook_runs_on_demo_store(path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Execute the notebook in notebooks/ with HARNESS_DB pointing at the demo store (the kernel
    inherits the environment): no cell may fail, and the key findings must be in the outputs."""
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
