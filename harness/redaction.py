"""Redaction at ingest: PII and secrets in captured text replaced with typed placeholders.

So a sanitized copy of production logs can be shared with a staging team: emails, phone
numbers, card numbers (Luhn-checked), IP addresses and API-key-like strings (plus your own
patterns) become [EMAIL], [PHONE], [CARD], [IP], [API_KEY]... in inputs, outputs, references,
metadata values, tool arguments and results, error messages and quarantined lines. JSON is
decoded first so a replacement never breaks an escape sequence; keys and numbers are kept.
User and session ids that contain such data become stable pseudonyms (anon-<hash>), so one
user stays one user for clustering and canary assignment.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import polars as pl

from harness.config import RedactionConfig

__all__ = ["Redactor", "luhn_valid"]

_PATTERNS: dict[str, str] = {
    "api_key": r"\b(?:sk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
               r"|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
               r"|(?<=Bearer )[A-Za-z0-9._~+/-]{16,}=*",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "card": r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])",
    "ip": r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"
          r"|(?<![\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\w:])",
    "phone": r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}"
             r"(?!\w|[ .-]\d)|(?<![\w+])\+\d{8,14}(?!\w)",
}  # fmt: skip
_ORDER = ("api_key", "email", "card", "ip", "phone")
_TEXT_COLUMNS = ("input", "reference", "metadata", "captured")
_IDS = ("user_id", "session_id")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class Redactor:
    """Replaces what the settings name; `counts` says how many of each it replaced."""

    def __init__(self, settings: RedactionConfig) -> None:
        self.settings = settings
        self.counts: Counter[str] = Counter()
        kinds = [k for k in _ORDER if k in settings.kinds]
        self._rules: list[tuple[str, re.Pattern[str]]] = [(k, re.compile(_PATTERNS[k])) for k in kinds]
        self._rules += [(name, re.compile(pattern)) for name, pattern in settings.patterns.items()]

    def describe(self) -> dict[str, Any]:
        """Settings and counts, stored with the dataset."""
        return {"kinds": list(self.settings.kinds), "patterns": sorted(self.settings.patterns),
                "counts": dict(self.counts)}

    def text(self, value: str) -> str:
        for kind, pattern in self._rules:
            value = pattern.sub(self._replacer(kind), value)
        return value

    def _replacer(self, kind: str) -> Callable[[re.Match[str]], str]:
        placeholder = f"[{kind.upper()}]"

        def replace(match: re.Match[str]) -> str:
            if kind == "card" and not luhn_valid(re.sub(r"\D", "", match.group(0))):
                return match.group(0)
            self.counts[kind] += 1
            return placeholder

        return replace

    def value(self, value: Any) -> Any:
        """A decoded JSON value with every string redacted (keys and numbers kept)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value

    def _json_text(self, text: str | None) -> str | None:
        """A column value that is JSON text (walked) or plain text (redacted as is)."""
        if text is None:
            return None
        if text.lstrip()[:1] in ("{", "["):
            try:
                return json.dumps(self.value(json.loads(text)), ensure_ascii=False)
            except ValueError:
                pass
        return self.text(text)

    def _identifier(self, value: str | None) -> str | None:
        if value is None or self.text(value) == value:
            return value
        self.counts["pseudonymized_id"] += 1
        digest = hashlib.sha256(f"{self.settings.salt}:{value}".encode()).hexdigest()[:16]
        return f"anon-{digest}"

    def frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Redact the canonical text columns of a reader's batch (nested ones as JSON text)."""
        updates = []
        for column in _TEXT_COLUMNS:
            if column in frame.columns and frame.schema[column] == pl.String:
                values = [self._json_text(v) for v in frame[column].to_list()]
                updates.append(pl.Series(column, values, dtype=pl.String))
        for column in _IDS:
            if column in frame.columns and frame.schema[column] == pl.String:
                updates.append(pl.Series(column, [self._identifier(v) for v in frame[column].to_list()],
                                         dtype=pl.String))
        return frame.with_columns(updates) if updates else frame
