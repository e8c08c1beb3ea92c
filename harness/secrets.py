"""Secrets stay in the environment: expand ${VAR} at call time, redact config snapshots.

Config files name environment variables (`api_key_env`, `${TOKEN}` in headers); the values
are read only when a call is made and never written to the store, a log line or a report.
"""

from __future__ import annotations

import os
import re
from typing import Any

from harness.errors import ConfigError

__all__ = ["expand_env", "redact", "REDACTED"]

REDACTED = "***redacted***"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_KEY = re.compile(r"(key|token|secret|password|passwd|authorization|auth|cookie|credential)", re.I)


def expand_env(text: str, what: str = "value") -> str:
    """Replace each ${VAR} with the environment's value; a missing variable is an error."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        value = os.environ.get(name)
        if value is None:
            raise ConfigError(f"{what} uses ${{{name}}} but the environment variable {name} is not set")
        return value

    return _VAR.sub(sub, text)


def redact(tree: Any, key: str = "") -> Any:
    """A copy safe to store: literal values under secret-looking keys are replaced.

    `${VAR}` references and `*_env` variable names are kept: they name, not hold, a secret.
    """
    if isinstance(tree, dict):
        return {k: redact(v, str(k)) for k, v in tree.items()}
    if isinstance(tree, list):
        return [redact(v, key) for v in tree]
    if isinstance(tree, str) and _SECRET_KEY.search(key) and not key.endswith("_env"):
        return tree if _is_reference_only(tree) else REDACTED
    return tree


def _is_reference_only(text: str) -> bool:
    """True when every non-space character of the value is inside a ${VAR} reference,
    apart from a scheme word such as `Bearer`."""
    rest = _VAR.sub("", text).strip()
    return bool(_VAR.search(text)) and (rest == "" or re.fullmatch(r"[A-Za-z]+", rest) is not None)
