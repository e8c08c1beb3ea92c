"""The release report: content, self-containment, escaping of untrusted text, a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.config import parse_config
from harness.gates import gate_run
from harness.ingest import ingest
from harness.replay import replay
from harness.report import write_report
from harness.scoring import score_run
from harness.store import Store, open_store
from tests.browser import browser_page
from tests.conftest import write_jsonl
from tests.procs import REPO, run_harness

PAYLOADS = [
    "<script>window.__pwned = 1; alert(1)</script>",
    '<img src=x onerror="window.__pwned = 2">',
    '"><svg onload="window.__pwned = 3"></svg>',
    "</pre><script>window.__pwned = 4</script><pre>",
    "javascript:window.__pwned = 5",
]


def hostile_run(tmp_path: Path) -> tuple[Store, str]:
    """A scored and gated run whose outputs, tool arguments, inputs, metadata and errors are attacks."""
    records: list[dict[str, Any]] = []
    for i in range(60):
        attack = PAYLOADS[i % len(PAYLOADS)]
        records.append({
            "request_id": f"r{i}", "user_id": f"u{i % 12}", "input": f"question {i} {attack}",
            "reference": f"the answer {i}",
            "metadata": {"intent": attack if i % 2 else "safe", "note": attack, "flags": {attack: True}},
            "captured": [
                {"variant": "prod", "output": f"the answer {i}", "latency_ms": 100 + i,
                 "tool_calls": [{"name": "lookup", "arguments": {"q": attack}}]},
                {"variant": "again", "output": f"the answer {i}.", "latency_ms": 101 + i,
                 "tool_calls": [{"name": "lookup", "arguments": {"q": attack}}]},
                {"variant": "cand", "output": None if i % 7 == 0 else f"{attack} nope {i}", "latency_ms": 99 + i,
                 "error": {"type": "agent_error", "message": attack} if i % 7 == 0 else None,
                 "tool_calls": [{"name": attack, "arguments": {"x": attack}}]}]})  # fmt: skip
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", records)], "hostile", progress=False)
    config = parse_config({
        "replay": {"dataset": "hostile"},
        "agents": {"prod": {"kind": "captured", "variant": "prod"}, "prod_repeat": {"kind": "captured", "variant": "again"},
                   "candidate": {"kind": "captured", "variant": "cand"}},
        "gates": {"n_bootstrap": 300, "min_segment_requests": 5, "segment_keys": ["intent", "flags"]},
        "release": {"name": f"v2 {PAYLOADS[0]}", "rollback_plan": PAYLOADS[1], "dashboards": [PAYLOADS[4]],
                    "on_call": PAYLOADS[2]},
    })  # fmt: skip
    run_id = replay(config, store=store, progress=False).run_id
    score_run(store, run_id, progress=False)
    gate_run(store, run_id, config.gates)
    return store, run_id


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str, Path]:
    tmp = tmp_path_factory.mktemp("hostile")
    store, run_id = hostile_run(tmp)
    return store, run_id, write_report(store, run_id, tmp / "report.html")


def test_report_is_self_contained_and_complete(hostile: tuple[Store, str, Path]) -> None:
    store, run_id, path = hostile
    html = path.read_text(encoding="utf-8")
    assert len(html.encode()) < 5_000_000
    # nothing is fetched when it is opened: no external script, style, image or font
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "default-src 'none'" in html
    for section in ("Verdict:", "Pre-deploy checklist", "Deploy plan", "Post-deploy", "Gates", "Latency and cost",
                    "Quality", "Segments", "Top regressions", "Errors", "Judge diagnostics", run_id, "config digest",
                    "harness report " + run_id):
        assert section in html, section
    for item in ("Shadow replay results reviewed", "Cost comparison", "Latency comparison", "Quality comparison",
                 "Rollback plan documented", "Monitoring dashboards configured", "Alert thresholds set",
                 "On-call engineer assigned"):
        assert item in html, item
    assert html.count("<svg") >= 3  # latency, similarity and segment charts at least


def test_untrusted_text_is_escaped(hostile: tuple[Store, str, Path]) -> None:
    _, _, path = hostile
    html = path.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    # every tag in the file is the template's own: none carries an event handler
    assert not re.search(r"<[a-z][^<>]*\son[a-z]+\s*=", html, re.IGNORECASE)
    assert "&lt;script&gt;window.__pwned = 1" in html
    assert '&lt;img src=x onerror=&#34;window.__pwned = 2&#34;&gt;' in html


def test_nothing_executes_in_a_real_browser(hostile: tuple[Store, str, Path]) -> None:
    _, _, path = hostile
    with browser_page() as page:
        dialogs: list[str] = []
        errors: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert dialogs == [] and errors == []
        assert page.evaluate("document.querySelectorAll('script').length") == 0
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        assert page.evaluate("[...document.querySelectorAll('*')].filter(e => e.getAttributeNames()"
                             ".some(a => a.startsWith('on'))).length") == 0
        # the page still renders, and shows the attacks as text
        assert page.locator("#verdict").is_visible()
        assert "<script>window.__pwned = 1; alert(1)</script>" in page.inner_text("body")


def test_browser_sees_the_banner_and_checklist(hostile: tuple[Store, str, Path], tmp_path: Path) -> None:
    _, run_id, path = hostile
    screenshot = tmp_path / f"screenshot-{run_id}.png"  # never into the repository
    with browser_page() as page:
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(path.as_uri())
        banner = page.locator("#verdict h2")
        assert banner.is_visible() and banner.inner_text().startswith("Verdict: ")
        assert page.locator("#checklist").is_visible()
        assert page.locator("#checklist .checklist > li").count() == 10  # with "No side effects during replay"
        page.screenshot(path=str(screenshot), full_page=True)
        assert errors == []
    assert screenshot.stat().st_size > 10_000


def test_report_command_and_release_section(hostile: tuple[Store, str, Path], tmp_path: Path) -> None:
    store, run_id, _ = hostile
    config = tmp_path / "harness.toml"
    config.write_text('[release]\nname = "support-agent v2.3"\nrollback_plan = "flip the flag back"\n'
                      'dashboards = ["grafana: agent overview"]\nalert_thresholds = "p99 > 8 s pages"\n'
                      'on_call = "jane"\n')
    out = tmp_path / "out" / "r.html"
    result = run_harness("report", run_id, "-o", str(out), "--config", str(config), "--db", str(store.path))
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    assert "Release review: support-agent v2.3" in html
    assert html.count("✔ done") >= 4 and "flip the flag back" in html
    default = run_harness("report", run_id, "--db", str(store.path), cwd=tmp_path)
    assert default.returncode == 0 and (tmp_path / "reports" / f"{run_id}.html").exists()
    payload = json.loads(json.dumps(PAYLOADS))  # the run's own [release] is the hostile one
    assert payload[0] not in (tmp_path / "reports" / f"{run_id}.html").read_text(encoding="utf-8")


@pytest.mark.timeout(600)  # the first test to ask for demo_db pays for building it
def test_demo_report_in_a_browser_leads_with_findings_and_prints_short(demo_db: Path, tmp_path: Path) -> None:
    """The demo's report as a reviewer sees it: findings under the verdict, what changed, a checklist with every
    item filled, one count of significantly worse segments, and at most 8 printed A4 pages. The screenshot of
    its top goes to tmp_path only."""
    store = open_store(demo_db, read_only=True)
    run_id = store.runs()["run_id"][0]
    path = write_report(store, run_id, tmp_path / "demo.html")
    screenshot = tmp_path / "demo-top.png"
    with browser_page() as page:
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(path.as_uri())
        assert page.locator("#verdict h2").inner_text() == "Verdict: rollback"
        findings = page.locator("#findings ol.findings > li").all_inner_texts()
        assert 1 <= len(findings) <= 5, findings
        assert "issue_refund" in findings[0] and re.search(r"prod on 9\d%|prod on 100%", findings[0])  # most severe first
        assert any("Cost 0.1" in f and "saves $" in f and "per 1,000 requests" in f for f in findings)  # good news
        assert not page.locator("#findings details ul").is_visible()  # statistics one level down
        changed = page.locator("#what-changed").inner_text()
        for text in ("demo-support", "1,200 requests", "gpt-4.1-mini", "harness.demo.agents:candidate_v2",
                     "config digest", "dropped issue_refund"):
            assert text in changed, text
        assert page.locator("#checklist .s-missing").count() == 0  # the demo's [release] fills every item
        worse = int(page.locator("#worse-count").inner_text().split()[0])
        segment_line = [f for f in findings if "significantly worse" in f]
        assert segment_line and segment_line[0].split()[1] == str(worse)  # "✘ 5 segments ...": the same count
        assert page.locator("#segments table.grid tbody tr").count() >= worse
        assert not page.locator("#passing-segments").is_visible()
        page.screenshot(path=str(screenshot))
        page.set_viewport_size({"width": 718, "height": 1000})  # an A4 page's printable width at 96 dpi
        page.emulate_media(media="print")
        assert page.locator("#passing-segments").is_visible()  # collapsed on screen, expanded in print
        smallest = page.evaluate("Math.min(...[...document.querySelectorAll('svg text')]"
                                 ".map(t => t.getScreenCTM().a * parseFloat(getComputedStyle(t).fontSize)))")
        assert smallest >= 10.6, f"chart text prints at {smallest * 0.75:.1f} pt"  # at least 8 pt
        assert page.locator("#latency svg .count").count() >= 3  # count axes
        assert page.locator("#findings details ul").is_visible()
        pdf = page.pdf(format="A4")
        assert errors == []
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 1 <= pages <= 8, f"the printed demo report has {pages} pages"
    assert screenshot.stat().st_size > 10_000 and REPO not in screenshot.parents
