"""Judge tasks: the judgments a run needs, built from its responses, with texts cut to a cap.

Pointwise for every successful prod and candidate answer; pairwise, in both orders, for prod
vs candidate and prod vs prod_repeat wherever both answered the same sample index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from harness.config import JudgeConfig

__all__ = ["Kind", "JudgeTask", "build_tasks"]

Kind = Literal["pointwise", "pairwise"]


@dataclass(frozen=True)
class JudgeTask:
    """One judgment to make.

    Pointwise: `arm_a` is the judged arm; `arm_b` and `order` are "", `answer_b`/`tools_b` None.
    Pairwise: `answer_a`/`tools_a` belong to `arm_a`; `order` "ab" shows arm_a's answer as A,
    "ba" shows arm_b's answer as A. `tools_*` are compact tool-call JSON text or None.
    """

    request_id: str
    kind: Kind
    arm_a: str
    arm_b: str
    sample: int
    order: str
    question: str
    answer_a: str
    tools_a: str | None
    answer_b: str | None
    tools_b: str | None
    truncated: tuple[str, ...] = ()
    """Which of question, answer_a, tools_a, answer_b, tools_b were cut to `max_chars` (see build_tasks)."""

    def shown(self) -> tuple[str, str | None, str | None, str | None]:
        """(answer A, tools A, answer B, tools B) as the judge sees them."""
        if self.order == "ba":
            return self.answer_b or "", self.tools_b, self.answer_a, self.tools_a
        return self.answer_a, self.tools_a, self.answer_b, self.tools_b

    def arm_at(self, position: str) -> str:
        """The arm whose answer was shown at `position` ("A" or "B"); "tie" stays "tie"."""
        if position == "tie":
            return "tie"
        first, second = (self.arm_b, self.arm_a) if self.order == "ba" else (self.arm_a, self.arm_b)
        return first if position == "A" else second


_PAIRS = (("prod", "candidate"), ("prod", "prod_repeat"))


def build_tasks(responses: pl.DataFrame, requests: pl.DataFrame, config: JudgeConfig,
                max_chars: int | None = None) -> list[JudgeTask]:
    """The judgments a run needs, in a stable order.

    Pointwise for every successful prod and candidate response; pairwise, in both orders, for
    prod vs candidate and prod vs prod_repeat wherever both answered the same sample index.
    `responses`: request_id, arm, sample, output, tool_calls, error_type; `requests`: request_id, input_text.
    With `max_chars`, a longer question, answer or tool-call text is cut to that many characters and
    ends with a note saying so (the judge sees it; the task lists what was cut in `truncated`).
    """
    questions = dict(zip(requests["request_id"].to_list(), requests["input_text"].to_list(), strict=True))
    ok = responses.filter(pl.col("error_type").is_null() & pl.col("output").is_not_null())
    columns = ok.select("request_id", "arm", "sample", "output", "tool_calls")
    answers: dict[tuple[str, str, int], tuple[_Cut, _Cut]] = {
        (rid, arm, int(sample)): (_cut(output, max_chars), _cut(_compact_tools(tools), max_chars))
        for rid, arm, sample, output, tools in columns.iter_rows()
    }
    tasks: list[JudgeTask] = []
    for rid, sample in sorted({(rid, sample) for rid, _arm, sample in answers}):
        question = _cut(questions.get(rid) or "", max_chars)
        if config.pointwise:
            for arm in ("prod", "candidate"):
                if (rid, arm, sample) in answers:
                    answer, tools = answers[(rid, arm, sample)]
                    cut = _cut_names(question=question, answer_a=answer, tools_a=tools)
                    tasks.append(JudgeTask(rid, "pointwise", arm, "", sample, "", question.text, answer.text,
                                           tools.text, None, None, cut))  # fmt: skip
        if config.pairwise:
            for arm_a, arm_b in _PAIRS:
                if (rid, arm_a, sample) in answers and (rid, arm_b, sample) in answers:
                    answer_a, tools_a = answers[(rid, arm_a, sample)]
                    answer_b, tools_b = answers[(rid, arm_b, sample)]
                    cut = _cut_names(question=question, answer_a=answer_a, tools_a=tools_a, answer_b=answer_b,
                                     tools_b=tools_b)
                    for order in ("ab", "ba"):
                        tasks.append(
                            JudgeTask(rid, "pairwise", arm_a, arm_b, sample, order, question.text,
                                      answer_a.text, tools_a.text, answer_b.text, tools_b.text, cut)
                        )  # fmt: skip
    return tasks


@dataclass(frozen=True)
class _Cut:
    text: Any
    cut: bool


def _cut(text: str | None, max_chars: int | None) -> _Cut:
    """`text`, cut to `max_chars` characters with a note that says so."""
    if text is None or max_chars is None or len(text) <= max_chars:
        return _Cut(text, False)
    return _Cut(f"{text[:max_chars]}\n[... cut by the harness: only the first {max_chars:,} characters are shown]", True)


def _cut_names(**parts: _Cut) -> tuple[str, ...]:
    return tuple(name for name, part in parts.items() if part.cut)


def _compact_tools(text: str | None) -> str | None:
    """Tool calls as compact JSON, None when there are none; text that is not JSON is kept as is."""
    if text is None:
        return None
    try:
        calls = json.loads(text)
    except ValueError:
        return text
    if not calls:
        return None
    return json.dumps(calls, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
