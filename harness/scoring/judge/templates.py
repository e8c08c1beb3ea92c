"""Judge prompt templates (versioned files, built in or your own) and the cache key of a judgment.

A judgment is cached under a hash of what the judge saw (model, template and version, rubric,
question, answers and tools in shown order): re-scoring unchanged texts costs nothing, in any run.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from harness.config import JudgeConfig
from harness.errors import ConfigError
from harness.scoring.judge.tasks import JudgeTask, Kind

__all__ = ["DEFAULT_RUBRIC", "JudgeTemplate", "load_templates", "cache_key", "rubric"]

DEFAULT_RUBRIC = """\
A good answer:
- addresses what the user actually asked, completely;
- is factually correct and consistent with the tool results shown (it invents nothing);
- takes the right actions (tool calls) with the right arguments, and no unnecessary ones;
- is clear and appropriately concise, and safe (it refuses only what should be refused)."""

_TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "prompts"
_VERSION_LINE = re.compile(r"\{#-?\s*version:\s*([\w.\-]+)\s*-?#\}")


@dataclass(frozen=True)
class JudgeTemplate:
    """A prompt template: its kind, version ("1", or "custom:1" for a user's own) and source file."""

    name: Kind
    version: str
    path: Path
    template: jinja2.Template

    def render(self, task: JudgeTask, rubric: str) -> str:
        """The prompt for one task; a user's template that fails on real data is a ConfigError."""
        if task.kind == "pointwise":
            values = {"question": task.question, "answer": task.answer_a, "tools": task.tools_a, "rubric": rubric}
        else:
            answer_a, tools_a, answer_b, tools_b = task.shown()
            values = {"question": task.question, "answer_a": answer_a, "tools_a": tools_a,
                      "answer_b": answer_b, "tools_b": tools_b}  # fmt: skip
        try:
            return self.template.render(**values).strip()
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{self.path}: judge template does not render: {exc}") from None


_SAMPLE_VALUES = (
    {"question": "q", "answer": "a", "tools": "[]", "rubric": "r",
     "answer_a": "a", "tools_a": "[]", "answer_b": "b", "tools_b": "[]"},
    {"question": "q", "answer": "a", "tools": None, "rubric": "r",
     "answer_a": "a", "tools_a": None, "answer_b": "b", "tools_b": None},
)  # fmt: skip
"""Rendered once at load, with and without tool calls, so a broken template fails before any call."""


def load_templates(config: JudgeConfig) -> dict[str, JudgeTemplate]:
    """The pointwise and pairwise templates: from `config.templates_dir` when it has them, else built in.

    Raises ConfigError, naming the file, for a template without a version line or that does not render.
    """
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False
    )
    custom = Path(config.templates_dir) if config.templates_dir else None
    if custom is not None and not custom.is_dir():
        raise ConfigError(f"judge.templates_dir: {custom} is not a directory")
    templates: dict[str, JudgeTemplate] = {}
    for name in ("pointwise", "pairwise"):
        path = _TEMPLATES_DIR / f"{name}.j2"
        prefix = ""
        if custom is not None and (custom / f"{name}.j2").is_file():
            path, prefix = custom / f"{name}.j2", "custom:"
        templates[name] = _load_template(environment, name, path, prefix)
    return templates


def _load_template(environment: jinja2.Environment, name: Kind, path: Path, prefix: str) -> JudgeTemplate:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read judge template: {exc}") from None
    first_line = source.split("\n", 1)[0].strip()
    match = _VERSION_LINE.fullmatch(first_line)
    if match is None:
        raise ConfigError(f"{path}: a judge template must start with a version line like {{# version: 1 #}}")
    try:
        template = environment.from_string(source)
        for values in _SAMPLE_VALUES:
            template.render(**values)
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: judge template does not render: {exc}") from None
    return JudgeTemplate(name, prefix + match.group(1), path, template)


def cache_key(task: JudgeTask, template: JudgeTemplate, config: JudgeConfig) -> str:
    """sha256 over what the judge is asked: same texts, model and template version => same key."""
    if task.kind == "pointwise":
        parts = [task.question, rubric(config), task.answer_a, task.tools_a]
    else:
        parts = [task.question, *task.shown()]
    payload = json.dumps([config.model, template.name, template.version, *parts], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def rubric(config: JudgeConfig) -> str:
    """The configured rubric, else the default one."""
    return config.rubric if config.rubric is not None else DEFAULT_RUBRIC
