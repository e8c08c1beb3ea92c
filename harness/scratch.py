"""Scratch directories named after the process that made them, so a later one can remove those of
processes that were killed (a killed process cannot remove its own)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["alive", "scratch_directory"]


def alive(pid: int) -> bool:
    """True when a process with this id exists (someone else's included)."""
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def scratch_directory(kind: str, root: str | None = None) -> tempfile.TemporaryDirectory[str]:
    """A new directory `harness-KIND-PID-*` under `root` (the temporary directory by default),
    removed when it is cleaned up; those of the same kind whose process is gone are removed first."""
    root = root or tempfile.gettempdir()
    for directory in Path(root).glob(f"harness-{kind}-*-*"):
        pid = directory.name.removeprefix(f"harness-{kind}-").split("-")[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"harness-{kind}-{os.getpid()}-", dir=root)
