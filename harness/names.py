"""What a run id or a dataset name may be: checked once, here, for the library and the CLI.

Run ids become file names (reports/<run_id>.html) and appear in shell commands, so they are
plain: letters, digits, '.', '_' and '-', starting with a letter or digit. Dataset names are
free text (a team's own naming), but never empty, overlong or carrying control characters.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from harness.errors import HarnessError

__all__ = ["InvalidNameError", "check_run_id", "check_dataset_name", "RUN_ID_PATTERN", "what_exists"]

RUN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_RUN_ID = re.compile(RUN_ID_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidNameError(HarnessError, ValueError):
    """A run id or dataset name that is not allowed."""


def check_run_id(run_id: str) -> str:
    """`run_id` when it is a valid run id; InvalidNameError saying why otherwise."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InvalidNameError(f"run id {run_id!r} is not valid: use 1 to 128 letters, digits, '.', '_' or '-',"
                               " starting with a letter or digit")
    return run_id


def check_dataset_name(name: str) -> str:
    """`name` when it is a valid dataset name; InvalidNameError saying why otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidNameError("a dataset name cannot be empty")
    if len(name) > 200:
        raise InvalidNameError(f"dataset name {name[:40]!r}... is longer than 200 characters")
    if _CONTROL.search(name):
        raise InvalidNameError(f"dataset name {name!r} contains control characters")
    return name


def what_exists(name: str, existing: Sequence[str], kind: str, limit: int = 8) -> str:
    """For a "not found" error: the names that do exist, the closest to `name` first (difflib)."""
    if not existing:
        return f"there are no {kind} in it yet"
    close = difflib.get_close_matches(name, existing, n=limit, cutoff=0.4)
    ordered = close + [n for n in existing if n not in close]
    shown = ", ".join(repr(n) for n in ordered[:limit])
    more = f" and {len(ordered) - limit} more" if len(ordered) > limit else ""
    return f"{kind} there: {shown}{more}" + (" (closest first)" if close else "")
