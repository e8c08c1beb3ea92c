"""`harness demo`: the whole pipeline on a generated customer-support log, end to end.

Generate, ingest, check the v1 -> v2 state migration, replay, score, gate and report.

Writes into a work directory: the captured log, the config it used (a real example to
copy), the DuckDB file and the report under reports/.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config import load_config
from harness.demo.generator import write_log
from harness.demo.payments import PaymentsService
from harness.demo.states import write_states
from harness.gates import GateReport
from harness.ingest import ingest
from harness.migration import MigrationOutcome, check_migration, ingest_states
from harness.pipeline import release
from harness.replay import ReplaySummary, new_run_id
from harness.scoring import ScoreSummary
from harness.store import Store

__all__ = ["DEMO_DATASET", "DemoOutcome", "run_demo", "write_demo_config"]

DEMO_DATASET = "demo-support"
DEMO_STATES = "demo-states"

DEMO_CONFIG = """\
# Written by `harness demo`: a customer-support agent, prod v1 against candidate v2.
# Copy it as a starting point for your own harness.toml.

[replay]
dataset = "demo-support"
concurrency = 128
timeout_s = 10
max_attempts = 3
max_tool_calls = 12
budget_usd = 25.0

[agents.prod]
kind = "python"
callable = "harness.demo.agents:prod_v1"
model = "gpt-4.1"

[agents.candidate]
kind = "python"
callable = "harness.demo.agents:candidate_v2"
model = "gpt-4.1-mini"

# The agents call their tools through the replay's tool sandbox: lookups and knowledge-base
# searches get the results production recorded; writes (refunds, cancellations, ...) are
# blocked and stored in tool_events as the agent's intended actions. issue_refund has a live
# endpoint (the demo's local payments service) but stays blocked: the service gets nothing.
[tools]
write = ["issue_refund", "cancel_order", "update_address", "reset_password"]

[tools.sandbox]
recordings = "prod"              # the captured variant whose tool results are served
on_miss = "block"                # a call no recording matches gets the blocked stub

[tools.policies.issue_refund]
policy = "block"                 # "live" would POST every refund to the url below
url = "{payments_url}/refunds"

[scoring]
embedding_model = "all-MiniLM-L6-v2"

# v2 also changes the stored state's schema (blue-green): `harness migrate-check -c harness.toml`
# runs the transform over every user's captured v1 state, and the verdict includes its
# migration_error_rate (critical, at most 0 broken states).
[migration]
check = "demo-state-v1-to-v2"
states = "demo-states"
transform = "harness.demo.migration:migrate_v1_to_v2"
schema = "harness.demo.migration:StateV2"
invariants = "harness.demo.migration:invariants"
idempotent = true

# What the report's checklist needs from people: who rolls back how, where to watch, who answers.
[release]
name = "shop support agent v2 (gpt-4.1-mini)"
rollback_plan = "Flip the support-agent-version flag back to v1 (one toggle, no deploy); v1 keeps reading v2 state."
dashboards = ["Grafana: Support agent / overview", "Grafana: Support agent / refunds and cancellations"]
alert_thresholds = "Page on error rate > 2% for 10 min, p99 latency > 8 s, or refunds issued per hour < 70% of last week's"
on_call = "support-agents on-call rotation (PagerDuty: support-agent-primary)"

# With an OpenAI-compatible endpoint at hand, an LLM judge adds quality scores:
# [judge]
# base_url = "http://localhost:8000/v1"
# model = "gpt-4.1"
# api_key_env = "OPENAI_API_KEY"
"""


@dataclass
class DemoOutcome:
    workdir: Path
    log: Path
    config: Path
    db: Path
    report: Path
    replay: ReplaySummary
    scores: ScoreSummary
    gates: GateReport
    states: Path
    migration: MigrationOutcome
    refunds_received: int = 0
    """Refund requests the payments service received during the replay (0: no side effects)."""
    refunds_intended: int = 0
    """issue_refund calls the tool sandbox blocked in this run (the agents' intended refunds)."""


def write_demo_config(path: Path, payments_url: str = "http://127.0.0.1:9") -> Path:
    path.write_text(DEMO_CONFIG.replace("{payments_url}", payments_url), encoding="utf-8")
    return path


def run_demo(workdir: str | Path = ".", db: str | Path | None = None, progress: bool = True) -> DemoOutcome:
    """Generate, ingest, replay, score, gate and report; returns where everything went."""
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    log = write_log(root / "demo_support_log.jsonl")
    with PaymentsService() as payments:
        config_path = write_demo_config(root / "harness.toml", payments.url)
        return _run_demo(root, log, config_path, db, progress, payments)


def _run_demo(root: Path, log: Path, config_path: Path, db: str | Path | None, progress: bool,
              payments: PaymentsService) -> DemoOutcome:
    store = Store(Path(db) if db else root / "harness.duckdb")
    ingest(store, [log], DEMO_DATASET, progress=progress)
    config = load_config(config_path)
    states = write_states(root / "demo_states_v1.jsonl", log)
    ingest_states(store, [states], DEMO_STATES, schema_version="v1", progress=progress)
    assert config.migration is not None
    migration = check_migration(store, config.migration, canary=config.canary, base_dir=config.base_dir,
                                progress=progress)
    run_id = new_run_id()
    outcome = release(config, store=store, run_id=run_id, report_path=root / "reports" / f"{run_id}.html",
                      progress=progress)
    assert outcome.scores is not None and outcome.gates is not None and outcome.report is not None
    events = store.tool_event_summary(run_id)
    intended = int(events.filter(events["tool"] == "issue_refund")["writes_blocked"].sum()) if events.height else 0
    return DemoOutcome(root, log, config_path, store.path, outcome.report, outcome.replay, outcome.scores,
                       outcome.gates, states, migration, payments.refunds, intended)
