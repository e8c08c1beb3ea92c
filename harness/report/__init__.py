"""The report: a context object built from the store, rendered by Jinja2 with autoescape on.

Agent outputs, tool arguments and metadata are untrusted text; autoescaping is what keeps
a `<script>` in an answer from running in a release reviewer's browser.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.config import HarnessConfig
from harness.errors import HarnessError
from harness.gates.run import run_coverage
from harness.names import check_run_id
from harness.report.context import ReportContext, build_context
from harness.secrets import scrub
from harness.store import Store

__all__ = ["ReportContext", "build_context", "render", "write_report"]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("harness", "report/templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["ms"] = lambda v: "-" if v is None else f"{v:,.0f} ms"
    env.filters["usd"] = lambda v: "-" if v is None else f"${v:,.5f}"
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.1f}%"
    env.filters["p"] = lambda v: "-" if v is None else f"{v:.2g}"
    return env


def _num(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(context: ReportContext) -> str:
    """The report as one self-contained HTML string, with every secret this process knows scrubbed."""
    return scrub(_environment().get_template("report.html.j2").render(c=context)) or ""


def write_report(store: Store, run_id: str, path: str | Path | None = None, config: HarnessConfig | None = None,
                 *, allow_incomplete: bool = False) -> Path:
    """Build and write the report of a run; default path reports/<run_id>.html.

    The file appears whole or not at all (written beside, then renamed). An incomplete run is
    reported only with `allow_incomplete` (IncompleteRunError otherwise), and says so on top."""
    check_run_id(run_id)
    coverage = run_coverage(store, run_id, allow_incomplete)
    target = Path(path) if path is not None else Path("reports") / f"{run_id}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    context = build_context(store, run_id, config, db_label=str(store.path))
    context.coverage = coverage
    html = render(context)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise HarnessError(f"{target}: the disk is full, the report was not written") from None
        raise HarnessError(f"{target}: cannot write the report: {exc.strerror}") from None
    return target
