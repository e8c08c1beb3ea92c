"""Everything a report shows, computed once from the store (aggregations run in DuckDB).

The context is plain data: it can be saved and re-rendered without recomputing. Nothing
here formats HTML; the templates do, with autoescaping on.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from harness.canary import CanaryPlan, plan_canary
from harness.config import HarnessConfig, ReleaseConfig
from harness.errors import HarnessError
from harness.gates.catalogue import default_checks, resolve_checks
from harness.limits import MAX_TEXT_CHARS_SHOWN
from harness.migration.report import MigrationSection, migration_section
from harness.report.changes import WhatChanged, what_changed
from harness.report.charts import Chart, IntervalChart, histogram_chart, interval_chart
from harness.report.headline import Headline, headlines, plain, worse_segments
from harness.report.sequential import SequentialSection, sequential_section
from harness.report.side_effects import SideEffectsSection, side_effects_section
from harness.report.tooldiff import tool_diff
from harness.store import Store

__all__ = ["ReportContext", "ChecklistItem", "build_context"]

TOP_REGRESSIONS = 2
"""Regression cards shown: enough to see the pattern, few enough that the printed report stays short."""
ARM_LABELS = {"prod": "prod", "prod_repeat": "prod_repeat", "candidate": "candidate"}
_POST_DEPLOY = [
    "At each canary step, compare the live error rate and p99 latency with the baseline here; the plan's"
    " detectable effects say what that step can and cannot show.",
    "Watch the segments listed as significantly worse (if any) on the dashboards, not just the totals.",
    "Keep the previous version deployable until the last step has run its full duration.",
    "Record the outcome (promoted or rolled back) with this report's run id.",
]


@dataclass
class ChecklistItem:
    title: str
    status: str
    """done, attention (evidence says look closer) or missing."""
    evidence: list[str]
    anchor: str | None = None


@dataclass
class ReportContext:
    run: dict[str, Any]
    dataset: dict[str, Any]
    release: ReleaseConfig
    verdict: dict[str, Any] | None
    arms: list[dict[str, Any]]
    counts: dict[str, Any]
    checklist: list[ChecklistItem]
    gates: list[dict[str, Any]]
    sanity: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    canary: CanaryPlan | None
    watch: list[dict[str, Any]]
    post_deploy: list[str]
    charts: dict[str, Chart | IntervalChart | None]
    regressions: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    judge: list[dict[str, Any]]
    tool_classes: list[dict[str, Any]]
    scoring: dict[str, Any] | None
    score_means: list[dict[str, Any]]
    config_digest: str
    reproduce: list[str]
    harness_version: str
    generated_at: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}")
    coverage: str | None = None
    """For an incomplete run: how much of it there is (the report says so on top)."""
    migration: MigrationSection | None = None
    """The state-migration check the config's [migration] names, if any."""
    side_effects: SideEffectsSection | None = None
    """What the tool sandbox blocked, served and let through (tool_events)."""
    sequential: SequentialSection | None = None
    """A sequential replay's looks and intervals against the requests used, if it was one."""
    headlines: list[Headline] = field(default_factory=list)
    """At most five findings under the verdict, the most severe and largest first."""
    changes: WhatChanged | None = None
    worse: list[dict[str, Any]] = field(default_factory=list)
    """Segment checks significantly worse than prod (the verdict's rule): banner, table and chart agree."""
    open_segments: list[dict[str, Any]] = field(default_factory=list)
    """Segment checks whose status is not pass: the table; the rest go to a collapsed appendix."""
    passing_segments: list[dict[str, Any]] = field(default_factory=list)
    worse_names: list[str] = field(default_factory=list)
    """The significantly worse segments as key=value, sorted."""
    segment_grid: dict[str, Any] = field(default_factory=dict)
    """Segments with a check that does not pass, by check: {"checks": [...], "rows": [...]}."""


def build_context(store: Store, run_id: str, config: HarnessConfig | None = None, *,
                  db_label: str | None = None) -> ReportContext:
    """Collect the whole report from the store; `config` overrides the config stored with the run."""
    from harness._version import __version__

    run = store.run(run_id)
    stored = run.get("config") or {}
    cfg = config or _stored_config(stored)
    gates = store.gate_results(run_id, segments=True)
    overall = gates.filter((pl.col("segment_key") == "") & ~pl.col("check_name").str.starts_with("sanity:"))
    arms = store.arm_summary(run_id).to_dicts()
    scoring = store.scoring_run(run_id)
    verdict = store.verdict(run_id)
    canary = _canary(store, run, cfg)
    counts = store.run_totals(run_id)
    ctx = ReportContext(
        run=run, dataset=store.dataset(run["dataset"]), release=cfg.release, verdict=verdict, arms=arms,
        counts=counts, checklist=[], gates=overall.to_dicts(),
        sanity=gates.filter(pl.col("check_name").str.starts_with("sanity:")).to_dicts(),
        segments=gates.filter(pl.col("segment_key") != "").to_dicts(),
        canary=canary, watch=_watch(cfg), post_deploy=_POST_DEPLOY + list(cfg.release.post_deploy),
        charts=_charts(store, run_id), regressions=_regressions(store, run_id),
        errors=store.error_examples(run_id).to_dicts(), judge=store.judge_diagnostics(run_id).to_dicts(),
        tool_classes=store.tool_classes(run_id).to_dicts(), scoring=scoring, score_means=store.score_means(run_id).to_dicts(),
        config_digest=hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()[:12],
        reproduce=[shlex.join(["harness", "report", run_id] + (["--db", db_label] if db_label else [])),
                   shlex.join(["harness", "run", "--config", "harness.toml", "--dataset", run["dataset"]]
                              + (["--profile", run["profile"]] if run.get("profile") else []))],
        harness_version=__version__,
    )  # fmt: skip
    segment_rows = ctx.segments
    ctx.worse = worse_segments(segment_rows, cfg.gates.alpha)
    ctx.worse_names = sorted({f"{g['segment_key']}={g['segment_value']}" for g in ctx.worse})
    ctx.open_segments = [g for g in segment_rows if g["status"] != "pass" or g in ctx.worse]
    ctx.passing_segments = [g for g in segment_rows if g not in ctx.open_segments]
    ctx.segment_grid = _segment_grid(ctx.open_segments, segment_rows, ctx.worse)
    findings = (verdict or {}).get("findings") or []
    ctx.headlines = headlines(arms, ctx.gates, findings, ctx.worse)
    ctx.changes = what_changed(store, run, ctx.dataset, findings)
    ctx.charts["segments"] = _segment_chart(gates, ctx.worse)
    ctx.migration = migration_section(store, cfg, overall)
    ctx.sequential = sequential_section(store, run_id)
    ctx.checklist = _checklist(ctx, overall)
    if ctx.migration is not None:
        ctx.checklist.append(ChecklistItem(**ctx.migration.checklist))
    ctx.side_effects = side_effects_section(store, run_id, cfg)
    ctx.checklist.insert(1, ChecklistItem(**ctx.side_effects.checklist))
    return ctx


def _stored_config(stored: dict[str, Any]) -> HarnessConfig:
    """The run's config snapshot (secrets already redacted) as a config, tolerating older snapshots."""
    try:
        return HarnessConfig.model_validate({k: v for k, v in stored.items() if k != "profiles"})
    except Exception:  # noqa: BLE001 - a report still renders from an unreadable snapshot
        return HarnessConfig()


def _canary(store: Store, run: dict[str, Any], cfg: HarnessConfig) -> CanaryPlan | None:
    try:
        return plan_canary(store, run["dataset"], cfg.canary, cfg.gates, run_id=run["run_id"])
    except HarnessError:
        return None


def _watch(cfg: HarnessConfig) -> list[dict[str, Any]]:
    """The critical checks: what to keep watching during the rollout."""
    try:
        specs = resolve_checks(cfg.gates.checks)
    except ValueError:
        specs = list(default_checks().values())
    return [{"name": s.name, "rule": s.description or f"{s.metric} {s.statistic} {s.bound} {s.threshold:g}"}
            for s in specs if s.severity == "critical"]


def _gate(overall: pl.DataFrame, name: str) -> dict[str, Any] | None:
    rows = overall.filter(pl.col("check_name") == name).to_dicts()
    return rows[0] if rows else None


def _status(*results: dict[str, Any] | None) -> str:
    """done when every present check passed (or fails only where prod fails too), attention when
    one did not, missing with none."""
    present = [r for r in results if r is not None and r["status"] != "skipped"]
    if not present:
        return "missing"
    return "done" if all(r["status"] in ("pass", "fail_prod_too") for r in present) else "attention"


def _checklist(ctx: ReportContext, overall: pl.DataFrame) -> list[ChecklistItem]:
    arms = {a["arm"]: a for a in ctx.arms}
    prod, cand = arms.get("prod", {}), arms.get("candidate", {})
    items = []
    complete = ctx.run["status"] == "completed"
    items.append(ChecklistItem(
        "Shadow replay results reviewed", "done" if complete and ctx.verdict else "attention" if complete else "missing",
        [f"{ctx.counts['n_requests']:,} requests replayed through {', '.join(a['arm'] for a in ctx.arms)}:"
         f" {ctx.counts['n_responses']:,} responses, {ctx.counts['n_errors']:,} errors; run {ctx.run['status']}.",
         "Verdict: " + (ctx.verdict["verdict"] if ctx.verdict else "not gated yet (run `harness gate`)."),
         f"{len(ctx.regressions)} top regressions are shown side by side below."],
        "regressions"))  # fmt: skip
    cost = _gate(overall, "cost")
    items.append(ChecklistItem("Cost comparison", _status(cost), [
        f"Mean cost per request: prod {_usd(prod.get('mean_cost_usd'))}, candidate {_usd(cand.get('mean_cost_usd'))}.",
        *([plain(cost["sentence"])] if cost else ["No cost check result."])], "gates"))
    latency = [_gate(overall, n) for n in ("latency_p99", "latency_p50_ratio", "latency_p95_ratio", "latency_p99_ratio")]
    items.append(ChecklistItem("Latency comparison (p50 / p95 / p99 per arm)", _status(*latency), [
        "p50 / p95 / p99 of successful answers: " + "; ".join(
            f"{a['arm']} {_ms(a['p50_ms'])} / {_ms(a['p95_ms'])} / {_ms(a['p99_ms'])}" for a in ctx.arms)
    ] + [plain(r["sentence"]) for r in latency if r is not None and r["status"] != "pass"], "latency"))
    actions = [_gate(overall, n) for n in ("task_success_delta", "action_f1_delta", "actions_vs_noise")]
    findings = (ctx.verdict or {}).get("findings") or []
    writes = [t["tool"] for t in ctx.tool_classes if t["class"] == "write"]
    items.append(ChecklistItem("Actions compared (write tools against the reference and against prod)",
                               _status(*actions), [
        f"Write tools (actions): {', '.join(writes) or 'none seen'}; the classes used are listed under Actions.",
        *([f"{len(findings)} action finding{'s' if len(findings) != 1 else ''} in words under Findings, above."]
          if findings else []),
        *[plain(r["sentence"]) for r in actions if r is not None]], "actions"))
    quality = [_gate(overall, n) for n in ("quality", "quality_delta", "judge_win_rate", "similarity_vs_noise",
                                           "tool_behaviour")]
    judge_model = (ctx.scoring or {}).get("settings", {}).get("judge_model")
    evidence = [f"LLM judge: {judge_model}." if judge_model else
                "LLM judge: not configured; quality is similarity to the reference answers."]
    evidence += [plain(r["sentence"]) for r in quality if r is not None and r["status"] != "skipped"]
    items.append(ChecklistItem("Quality comparison (judge, similarity vs noise floor, reference checks)",
                               _status(*quality), evidence, "quality"))
    release = ctx.release
    for title, value in (("Rollback plan documented", release.rollback_plan),
                         ("Monitoring dashboards configured", ", ".join(release.dashboards) or None),
                         ("Alert thresholds set", release.alert_thresholds),
                         ("On-call engineer assigned", release.on_call)):
        items.append(ChecklistItem(title, "done" if value else "missing",
                                   [value] if value else ["Missing: add it under [release] in the config."]))
    return items


def _charts(store: Store, run_id: str) -> dict[str, Chart | IntervalChart | None]:
    arms = [(a, ARM_LABELS[a]) for a in ("prod", "prod_repeat", "candidate")]
    charts: dict[str, Chart | IntervalChart | None] = {
        "latency": histogram_chart("Latency per arm", store.latency_histogram(run_id), arms, log_x=True,
                                   x_label="latency (ms, log scale)", fmt=lambda v: f"{v:,.0f} ms",
                                   bin_width=lambda b: b * (10 ** 0.1 - 1)),
    }
    charts["cost"] = histogram_chart("Cost per response per arm", store.cost_histogram(run_id), arms, log_x=True,
                                     x_label="cost per response (USD, log scale)", fmt=_usd_tick,
                                     bin_width=lambda b: b * (10 ** 0.1 - 1))
    charts["similarity"] = histogram_chart(
        "Similarity to prod: candidate against the noise floor", store.similarity_histogram(run_id),
        [("prod_repeat", "prod_repeat"), ("candidate", "candidate")], log_x=False,
        x_label="cosine similarity to prod's answer", fmt=lambda v: f"{v:.2f}", bin_width=lambda b: 0.025)
    return charts


def _segment_chart(gates: pl.DataFrame, worse: list[dict[str, Any]] | None = None) -> IntervalChart | None:
    """Quality difference from prod per segment (or similarity gap when quality is absent); the segments
    marked are the significantly worse ones, the same as in the banner and the table."""
    flagged = {(r["check_name"], r["segment_key"], r["segment_value"]) for r in worse or []}
    for check in ("quality_delta", "similarity_vs_noise"):
        rows = gates.filter((pl.col("segment_key") != "") & (pl.col("check_name") == check)
                            & pl.col("estimate").is_not_null())
        if rows.height:
            data = [{"label": f"{r['segment_key']}={r['segment_value']}", "estimate": r["estimate"],
                     "low": r["ci_low"], "high": r["ci_high"],
                     "flagged": (check, r["segment_key"], r["segment_value"]) in flagged}
                    for r in rows.sort("segment_key", "segment_value").to_dicts()]
            margin = rows["margin"].drop_nulls()
            limit = -float(margin.median()) if margin.len() else None  # type: ignore[arg-type]
            title = ("Quality by segment: candidate minus prod" if check == "quality_delta"
                     else "Similarity to prod by segment: gap to the noise floor")
            return interval_chart(title, data, x_label="difference (95% CI); dashed line: the margin",
                                  limit=limit, fmt=lambda v: f"{v:+.3f}")
    return None


def _segment_grid(open_rows: list[dict[str, Any]], rows: list[dict[str, Any]],
                  worse: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per segment that has a check not passing, one column per such check; cells keep the status and
    the numbers (as a tooltip), the significantly worse ones marked."""
    checks = sorted({g["check_name"] for g in open_rows})
    segments = sorted({(g["segment_key"], g["segment_value"]) for g in open_rows})
    cell = {(g["segment_key"], g["segment_value"], g["check_name"]): g for g in rows}
    marked = {(g["segment_key"], g["segment_value"], g["check_name"]) for g in worse}
    grid_rows = []
    for key, value in segments:
        cells = []
        for check in checks:
            g = cell.get((key, value, check))
            cells.append({"status": g["status"] if g else "-", "worse": (key, value, check) in marked,
                          "title": _cell_numbers(g) if g else "not evaluated in this segment"})
        n = max((g["n"] or 0 for g in rows if (g["segment_key"], g["segment_value"]) == (key, value)), default=0)
        grid_rows.append({"segment": f"{key}={value}", "n": n, "cells": cells,
                          "worse": any(c["worse"] for c in cells)})
    return {"checks": checks, "rows": grid_rows}


def _cell_numbers(g: dict[str, Any]) -> str:
    """A segment cell's numbers for its tooltip (numbers only: untrusted names stay out of attributes)."""
    if g["estimate"] is None:
        return f"{g['status']}, n={g['n'] or 0:,}"
    interval = f" (95% CI {g['ci_low']:.3g} .. {g['ci_high']:.3g})" if g["ci_low"] is not None else ""
    adjusted = f", adjusted p={g['p_adjusted']:.2g}" if g["p_adjusted"] is not None else ""
    return f"{g['estimate']:.3g}{interval}, n={g['n'] or 0:,}{adjusted}"


def _regressions(store: Store, run_id: str) -> list[dict[str, Any]]:
    top = store.top_regressions(run_id, limit=TOP_REGRESSIONS, cap=MAX_TEXT_CHARS_SHOWN)
    if top.is_empty():
        return []
    answers = store.responses_for(run_id, top["request_id"].to_list(), cap=MAX_TEXT_CHARS_SHOWN)
    by_request: dict[str, dict[str, dict[str, Any]]] = {}
    for row in answers.to_dicts():
        whole = (row["tool_calls_chars"] or 0) <= len(row["tool_calls"] or "")
        row["raw_tool_calls"] = row["tool_calls"] if whole else "cut"
        row["output"] = _shown(row["output"], row["output_chars"])
        row["tool_calls"] = _shown(row["tool_calls"], row["tool_calls_chars"], pretty=True)
        by_request.setdefault(row["request_id"], {})[row["arm"]] = row
    items = []
    for r in top.to_dicts():
        arms = by_request.get(r["request_id"], {})
        prod, cand = arms.get("prod"), arms.get("candidate")
        items.append({
            "tool_diff": tool_diff(prod["raw_tool_calls"], cand["raw_tool_calls"]) if prod and cand else None,
            "request_id": r["request_id"], "input": _shown(r["input_text"], r["input_chars"]),
            "metadata": _shown(r["metadata"], r["metadata_chars"], pretty=True),
            "why": _why(r), "arms": arms,
        })  # fmt: skip
    return items


def _shown(text: str | None, total: int | None, *, pretty: bool = False) -> str:
    """A stored text as the report shows it: at most MAX_TEXT_CHARS_SHOWN characters, saying
    how much more there is; JSON indented when it is whole."""
    if not text:
        return ""
    if total is not None and total > len(text):
        return text + f"\n[... {total - len(text):,} more characters not shown]"
    return _pretty(text) if pretty else text


def _why(r: dict[str, Any]) -> list[str]:
    reasons = []
    if r["candidate_error"] and not r["prod_error"]:
        reasons.append("the candidate failed where prod answered")
    if r["sim_candidate"] is not None and r["sim_repeat"] is not None and r["sim_candidate"] < r["sim_repeat"]:
        reasons.append(f"similarity to prod {r['sim_candidate']:.2f}, while prod's own repeat reached {r['sim_repeat']:.2f}")
    if r["pairwise"] is not None and r["pairwise"] < 0:
        reasons.append("the judge preferred prod in both orders")
    if r["quality_prod"] is not None and r["quality_candidate"] is not None and r["quality_candidate"] < r["quality_prod"]:
        reasons.append(f"judge quality {r['quality_candidate']:.2f} against prod's {r['quality_prod']:.2f}")
    if (r["tools_changed"] or 0) > (r["tools_changed_repeat"] or 0):
        reasons.append("the candidate changed prod's tool calls (prod's repeat did not)")
    return reasons


def _pretty(text: str | None) -> str:
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=1, ensure_ascii=False)
    except ValueError:
        return text


def _usd_tick(value: float) -> str:
    """A cost axis label: as many decimals as the value needs, never a row of zeros."""
    return f"${value:.2g}" if value < 0.01 else f"${value:,.2f}"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.5f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"
