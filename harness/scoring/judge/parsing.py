"""Reading a judge's answer: strict JSON first, then tolerant patterns; anything else is unparseable
or a refusal (recorded for that judgment, never a crash)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from harness.scoring.judge.tasks import Kind

__all__ = ["JudgeAnswer", "UnparseableAnswer", "parse_answer"]

_RATIONALE_CHARS = 1000


@dataclass(frozen=True)
class JudgeAnswer:
    """A parsed judge answer. Pointwise: verdict is the 1-10 integer as text, score (s-1)/9.
    Pairwise: verdict is the winning position "A", "B" or "tie", score None."""

    verdict: str
    score: float | None
    rationale: str | None


class UnparseableAnswer(Exception):
    """The judge's answer holds no usable verdict; `error_type` is "unparseable" or "refusal"."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
_SCORE = re.compile(r"""\bscore["']?\s*(?:[:=]|is)?\s*["']?(\d+(?:\.\d+)?)""", re.I)
_OUT_OF_TEN = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.I)
_WINNER = re.compile(  # A and B in capitals only: "the winner is a tie" names no answer "a"
    r"""(?i:\bwinner)["']?\s*(?:[:=]|(?i:is))?\s*["']?\s*(?:(?i:answer)\s*)?(A|B|(?i:(?:a\s+)?tie))\b"""
)
_RATIONALE = re.compile(r"""\brationale["']?\s*[:=]\s*""", re.I)
_REFUSAL = re.compile(
    r"^\W*(i['’]?m sorry|i am sorry|sorry,|i can['’]?t|i cannot|i can not|i won['’]?t|"
    r"i['’]?m (not able|unable)|i am (not able|unable)|as an ai)",
    re.I,
)


def parse_answer(kind: Kind, text: str | None) -> JudgeAnswer:
    """Read a judge's answer: strict JSON (bare or in a ```json fence) first, then tolerant patterns
    such as `score: 7`, `7/10`, `Winner: A`. Raises UnparseableAnswer for anything else or out of range."""
    if text is None or not text.strip():
        raise UnparseableAnswer("unparseable", "the judge gave an empty answer")
    data = _json_object(text)
    field = "score" if kind == "pointwise" else "winner"
    if data is not None and field in data:
        value, rationale = data[field], data.get("rationale")
        rationale = rationale if isinstance(rationale, str) else None
    else:
        match = (_SCORE.search(text) or _OUT_OF_TEN.search(text)) if kind == "pointwise" else _WINNER.search(text)
        if match is None:
            raise _unreadable(text)
        value, rationale = match.group(1), _loose_rationale(text)
    return _pointwise(value, rationale, text) if kind == "pointwise" else _pairwise(value, rationale, text)


def _pointwise(value: Any, rationale: str | None, text: str) -> JudgeAnswer:
    score = _integer(value)
    if score is None:
        raise _unreadable(text)
    if not 1 <= score <= 10:
        raise UnparseableAnswer("unparseable", f"score {score} is outside 1-10")
    return JudgeAnswer(str(score), (score - 1) / 9, _clip(rationale))


def _pairwise(value: Any, rationale: str | None, text: str) -> JudgeAnswer:
    word = " ".join(str(value).split()).lower() if isinstance(value, str) else ""
    word = word.removeprefix("answer ").removeprefix("a ")
    position = {"a": "A", "b": "B", "tie": "tie"}.get(word)
    if position is None:
        raise UnparseableAnswer("unparseable", f"winner {value!r} is not A, B or tie")
    return JudgeAnswer(position, None, _clip(rationale))


def _json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in the answer: all of it, a fenced block, or the outermost braces."""
    candidates = [text.strip(), *(m.group(1) for m in _FENCE.finditer(text))]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _integer(value: Any) -> int | None:
    """An integral number (7, 7.0, "7"); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    return None


def _loose_rationale(text: str) -> str:
    """What follows a `rationale:` label, else the whole answer."""
    match = _RATIONALE.search(text)
    if match is None:
        return text.strip()
    return text[match.end() :].strip().rstrip("}").strip().strip("\"'").strip()


def _clip(text: str | None) -> str | None:
    return text[:_RATIONALE_CHARS] if text else None


def _unreadable(text: str) -> UnparseableAnswer:
    snippet = " ".join(text.split())[:200]
    if _REFUSAL.match(text):
        return UnparseableAnswer("refusal", f"the judge refused: {snippet}")
    return UnparseableAnswer("unparseable", f"no verdict in the judge's answer: {snippet}")
