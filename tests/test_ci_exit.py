"""What a CI job sees: the README's shell snippet and `--fail-on` fail on every code but the ones they pass."""

from __future__ import annotations

import re
import subprocess

import pytest

from harness.cli.common import FailOn, verdict_exit
from tests.procs import REPO


def readme_snippet() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- ci-snippet -->\n```sh\n(.+?)\n```", readme, re.S)
    assert match, "README lost its CI snippet"
    return match.group(1)


@pytest.mark.parametrize(("code", "passes"), [(0, True), (3, True), (1, False), (2, False), (4, False),
                                              (5, False), (130, False)])
def test_readme_ci_snippet_fails_on_everything_but_proceed_and_pause(code: int, passes: bool) -> None:
    # `harness` stands in as a shell function returning the code: this checks the snippet's shell logic.
    script = f"harness() {{ return {code}; }}\n{readme_snippet()}\n"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert (result.returncode == 0) is passes, (code, result.returncode)
    if not passes:
        assert result.returncode == code


@pytest.mark.parametrize(("verdict", "fail_on", "code"), [
    ("proceed", None, 0), ("pause_and_investigate", None, 3), ("rollback", None, 4),
    ("proceed", FailOn.pause, 0), ("pause_and_investigate", FailOn.pause, 3), ("rollback", FailOn.pause, 4),
    ("proceed", FailOn.rollback, 0), ("pause_and_investigate", FailOn.rollback, 0), ("rollback", FailOn.rollback, 4),
])
def test_fail_on_sets_the_mildest_failing_verdict(verdict: str, fail_on: FailOn | None, code: int) -> None:
    assert verdict_exit(verdict, fail_on) == code
