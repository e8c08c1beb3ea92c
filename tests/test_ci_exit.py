"""What a CI job sees: the README's shell snippet and `--fail-on` fail on every code but the ones they pass."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.common import FailOn, verdict_exit
from tests.procs import REPO, harness_env


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


ENTRY = """
import atexit, sys, threading
from harness.cli import main
atexit.register(lambda: print("exit handler ran", file=sys.stderr))
class Witness:
    def __del__(self):  # runs when the interpreter tears its modules down
        print("torn down", file=sys.stderr)
witness = Witness()
if sys.argv[1] == "thread":  # a thread still at work: the ordinary exit waits for it
    threading.Thread(target=lambda: (threading.Event().wait(0.5), print("thread finished", flush=True))).start()
sys.argv = ["harness", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize(("args", "code"), [(["--help"], 0), (["nosuch"], 2), (["runs", "--db", "missing.duckdb"], 1)])
@pytest.mark.parametrize("thread", ["none", "thread"])
def test_the_entry_point_keeps_exit_codes_output_and_exit_handlers(tmp_path: Path, args: list[str], code: int,
                                                                    thread: str) -> None:
    """The console script skips the interpreter's teardown but keeps what a CI job relies on: the exit
    code, every line of output (stdout a pipe), the exit handlers; with a thread at work it takes
    the ordinary exit, which waits for the thread."""
    result = subprocess.run([sys.executable, "-c", ENTRY, thread, *args], cwd=tmp_path, env=harness_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stderr
    assert "exit handler ran" in result.stderr
    assert ("torn down" in result.stderr) is (thread == "thread")
    if args == ["--help"]:
        assert "Usage: harness" in result.stdout and "replay" in result.stdout
    assert ("thread finished" in result.stdout) is (thread == "thread")
