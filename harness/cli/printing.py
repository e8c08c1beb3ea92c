"""How the commands print results: scoring headlines, the gates table, the verdict, a migration check."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.cli.common import out, table

__all__ = ["describe_scores", "print_scores", "print_gates", "print_verdict", "print_migration"]


def print_scores(summary: Any, console: Console) -> None:
    """The headline figures of a scoring pass, as sentences."""
    for line in describe_scores(summary):
        console.print(line, highlight=False, markup=False)


def describe_scores(summary: Any) -> list[str]:
    """A scoring summary in lines: similarity against the noise floor, references, actions, judge."""
    m = summary.mean
    lines = [f"scored {summary.run_id}: {summary.new_scores:,} new scores, {summary.texts_encoded:,} texts encoded,"
             f" {summary.texts_cached:,} from the cache ({summary.embedding_model}), {summary.elapsed_s:.1f}s"]
    cand, noise = m("similarity", "candidate", "prod"), m("similarity", "prod_repeat", "prod")
    if cand is not None:
        lines.append(f"  similarity to prod: candidate {cand:.3f}"
                     + (f", noise floor (prod_repeat vs prod) {noise:.3f}" if noise is not None else ""))
    ref = [(arm, m("similarity", arm, "reference")) for arm in ("prod", "candidate")]
    if all(v is not None for _, v in ref):
        lines.append("  similarity to reference answers: " + ", ".join(f"{a} {v:.3f}" for a, v in ref))
    f1 = [(arm, m("tool_f1_name", arm, "reference")) for arm in ("prod", "candidate")]
    if all(v is not None for _, v in f1):
        lines.append("  tool calls vs reference (F1 by name): " + ", ".join(f"{a} {v:.3f}" for a, v in f1))
    success = [(arm, m("action_match", arm, "reference")) for arm in ("prod", "candidate")]
    if all(v is not None for _, v in success):
        action_f1 = [(arm, m("action_f1", arm, "reference")) for arm in ("prod", "candidate")]
        lines.append("  write actions vs reference: task success " + ", ".join(f"{a} {v:.1%}" for a, v in success)
                     + "; action F1 " + ", ".join(f"{a} {v:.3f}" for a, v in action_f1 if v is not None))
    acted = [(arm, m("action_changed", arm, "prod")) for arm in ("candidate", "prod_repeat")]
    if acted[0][1] is not None:
        lines.append(f"  write actions changed from prod: candidate {acted[0][1]:.1%}"
                     + (f", prod_repeat {acted[1][1]:.1%} (noise)" if acted[1][1] is not None else ""))
    if summary.reference_variant:
        lines.append(f"  captured variant {summary.reference_variant!r} stands in for missing reference tool calls"
                     " ([scoring] reference_variant)")
    writes = [t["tool"] for t in summary.tool_classes if t["class"] == "write"]
    if summary.tool_classes:
        lines.append(f"  tools: {len(summary.tool_classes)} seen, write (actions): {', '.join(writes) or 'none'}")
    changed = [(arm, m("tool_set_changed", arm, "prod")) for arm in ("candidate", "prod_repeat")]
    if changed[0][1] is not None:
        lines.append(f"  tool set changed from prod: candidate {changed[0][1]:.1%}"
                     + (f", prod_repeat {changed[1][1]:.1%} (noise)" if changed[1][1] is not None else ""))
    if summary.judge is None:
        lines.append("  judge: not configured, so there is no LLM-judge quality figure (add [judge] to the config);"
                     " quality falls back to reference actions, else similarity with the reference answers")
    else:
        j = summary.judge
        q = [(arm, m("judge_quality", arm, "")) for arm in ("prod", "candidate")]
        lines.append(f"  judge {j['model']}: quality " + ", ".join(f"{a} {v:.3f}" for a, v in q if v is not None)
                     + f"; {j['called']:,} calls, {j['cached']:,} cached, {j['errors']:,} errors,"
                     f" evaluation cost ${j['cost_usd']:,.4f}")
        win = m("judge_pairwise", "candidate", "prod")
        if win is not None:
            lines.append(f"  judge pairwise: candidate net win rate vs prod {win:+.3f}")
    return lines


def print_gates(report: Any, show_segments: bool) -> None:
    """Every check as a row (segments too when asked), then the verdict with its reasons."""
    from harness.gates.describe import limit_text, value_text

    rows = report.checks + report.sanity + (report.segments if show_segments else [])
    grid = Table(title=Text(f"gates of {report.run_id}"), title_justify="left", header_style="bold")
    for name in ("check", "segment", "severity", "status", "estimate", "95% CI", "limit", "noise band", "n"):
        grid.add_column(name, overflow="fold")
    colours = {"pass": "green", "fail": "red", "inconclusive": "yellow", "nodata": "yellow", "skipped": "dim",
               "unreliable": "yellow", "fail_prod_too": "yellow"}
    for r in rows:
        interval = f"{value_text(r, r.ci_low)} .. {value_text(r, r.ci_high)}" if r.ci_low is not None else "-"
        segment = Text(f"{r.segment_key}={r.segment_value}" if r.segment_key else "")  # metadata: plain text
        grid.add_row(Text(r.check_name), segment, r.severity,
                      f"[{colours.get(r.status, 'white')}]{r.status}[/]", value_text(r, r.estimate), interval,
                      limit_text(r), "-" if r.noise_band is None else f"{r.noise_band:.3g}", f"{r.n:,}")
    out.print(grid)
    print_verdict(report)


def print_verdict(report: Any) -> None:
    """The verdict in colour, then its reasons as plain text."""
    colour = {"proceed": "green", "pause_and_investigate": "yellow", "rollback": "red"}[report.verdict]
    out.print(f"verdict: [bold {colour}]{report.verdict}[/]")
    for reason in report.reasons:
        out.print(f"  - {reason}", highlight=False, markup=False)


def print_migration(summary: Any, result: Any) -> None:
    """A migration check as tables: outcomes, canary steps, error kinds with an example, field changes."""
    import polars as pl

    c = summary.check
    s = c["settings"]
    out.print(Text(f"{c['check_id']}  state set {c['state_set']} ({summary.schema_version})  status {c['status']}"
                   f"  scope {c['scope']}  {summary.n_checked:,} of {c['n_planned']:,} states checked"))
    out.print(Text(f"transform {s['transform']}  schema {s['schema']}  invariants {s['invariants'] or '-'}"
                   f"  idempotent {'yes' if s['idempotent'] else 'not declared'}"))
    out.print(table(pl.DataFrame({"outcome": list(summary.outcomes), "states": list(summary.outcomes.values())}),
                     title="outcomes"))
    if summary.cohorts:
        out.print(table(pl.DataFrame(summary.cohorts).rename({"percent": "canary step %", "n": "states",
                                                               "n_not_ok": "not ok"}), title="per canary step"))
    if summary.errors:
        rows = [{"outcome": e["outcome"], "kind": e["error_kind"], "path": e["error_path"], "states": e["n"],
                 "example": f"{e['examples'][0]['key']}: {(e['examples'][0]['message'] or '')[:100]}"}
                for e in summary.errors]
        out.print(table(pl.DataFrame(rows), title="top error kinds"))
    if summary.fields:
        out.print(table(pl.DataFrame(summary.fields), title="field changes (share of migrated states)"))
    out.print(result.sentence, markup=False, highlight=False)
