"""Secrets stay in the environment: expand ${VAR} at call time, redact config snapshots, and
scrub every secret the process has seen from whatever it stores, logs or renders.

Config files name environment variables (`api_key_env`, `${TOKEN}` in headers); the values
are read only when a call is made and never written to the store, a log line or a report.
Every value resolved from the environment (and every literal credential in a header or a
URL's query string) is remembered for this process; `scrub()` replaces each of them, and every
run of at least MIN_SECRET_CHARS characters of one, so a server that echoes a key without its
prefix, or half of it, leaks nothing.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from harness.errors import ConfigError

__all__ = ["expand_env", "redact", "remember_secret", "scrub", "is_secret_name", "MIN_SECRET_CHARS", "REDACTED"]

REDACTED = "***redacted***"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_KEY = re.compile(r"(key|token|secret|password|passwd|authorization|auth|cookie|credential)", re.I)


MIN_SECRET_CHARS = 8
"""Runs of a secret at least this long are scrubbed; shorter values are not remembered at all."""


class _Secrets:
    """The secret values this process has read, and a pattern that finds any piece of one."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) >= MIN_SECRET_CHARS and value not in self._values:
            with self._lock:
                self._values = self._values | {value}
                self._pattern = None

    def scrub(self, text: str) -> str:
        values = self._values
        if not values or not text:
            return text
        pattern = self._compiled()
        spans: list[tuple[int, int]] = []
        for match in pattern.finditer(text):
            start, end = match.start(), match.end()
            if spans and start < spans[-1][1]:
                continue
            while end < len(text) and any(text[start:end + 1] in v for v in values):
                end += 1
            while start > 0 and any(text[start - 1:end] in v for v in values):
                start -= 1
            spans.append((start, end))
        if not spans:
            return text
        out, last = [], 0
        for start, end in spans:
            out += [text[last:max(start, last)], REDACTED]
            last = max(last, end)
        return "".join(out + [text[last:]])

    def _compiled(self) -> re.Pattern[str]:
        pattern = self._pattern
        if pattern is None:
            windows = {v[i:i + MIN_SECRET_CHARS] for v in self._values for i in range(len(v) - MIN_SECRET_CHARS + 1)}
            pattern = self._pattern = re.compile("|".join(map(re.escape, sorted(windows, key=len, reverse=True))))
        return pattern


_SECRETS = _Secrets()


def remember_secret(value: str | None) -> None:
    """From now on, `value` (and every long enough run of it) is scrubbed from this process's output."""
    if value:
        _SECRETS.add(value)


def scrub(text: str | None) -> str | None:
    """`text` without any secret this process has read, or a run of MIN_SECRET_CHARS of one."""
    return text if text is None else _SECRETS.scrub(text)


def is_secret_name(name: str) -> bool:
    """A header, query parameter or config key that usually holds a credential."""
    return bool(_SECRET_KEY.search(name))


def expand_env(text: str, what: str = "value") -> str:
    """Replace each ${VAR} with the environment's value (remembered as a secret); a missing
    variable is an error."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        value = os.environ.get(name)
        if value is None:
            raise ConfigError(f"{what} uses ${{{name}}} but the environment variable {name} is not set")
        remember_secret(value)
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
    if isinstance(tree, str) and "?" in tree and "://" in tree:
        return _redacted_query(tree)
    return tree


def _redacted_query(url: str) -> str:
    """A URL with the values of secret-looking query parameters redacted (`?api_key=...`)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(is_secret_name(name) and not _is_reference_only(value) for name, value in pairs):
        return url
    query = "&".join(f"{name}={REDACTED if is_secret_name(name) and not _is_reference_only(value) else value}"
                     for name, value in pairs)
    return urlunsplit(parts._replace(query=query))


def _is_reference_only(text: str) -> bool:
    """True when every non-space character of the value is inside a ${VAR} reference,
    apart from a scheme word such as `Bearer`."""
    rest = _VAR.sub("", text).strip()
    return bool(_VAR.search(text)) and (rest == "" or re.fullmatch(r"[A-Za-z]+", rest) is not None)
