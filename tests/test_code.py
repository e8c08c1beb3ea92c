"""The code itself: no undefined names, unused imports or dead assignments (ruff's pyflakes rules)."""

from __future__ import annotations

import subprocess
import sys

from tests.procs import REPO


def test_pyflakes_rules_pass() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F", "--output-format", "concise",
                             "harness", "tests", "bench"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
