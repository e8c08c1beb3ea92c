"""`migrate-check` in a real process pool: every outcome kind, a worker that segfaults, exits or
loops forever, a pool whose pipes are corrupted, cohorts on the canary's hash, the gate, and the
migrated-state API a replay will call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from harness.canary import plan_canary
from harness.config import CanaryConfig, GatesConfig, MigrationConfig
from harness.errors import ConfigError, NotFoundError
from harness.ingest import ingest
from harness.migration import (
    check_migration,
    ingest_states,
    migrated_state,
    migrated_states,
    migration_gate,
    migration_summary,
    plan_states,
)
from harness.stats import stable_fraction
from harness.store import Store
from tests.conftest import write_jsonl
from tests.migration_code import SCHEMA_V2
from tests.procs import REPO

KINDS = {
    "ok-1": "ok", "ok-2": "ok", "ok-3": "ok", "raise": "raise", "not-json": "not_json", "invalid": "invalid",
    "lose": "lose_history", "no-history": "ok", "segfault": "segfault", "exit": "exit", "loop": "loop",
    "stubborn": "stubborn_loop", "email": "email_error",
}  # fmt: skip


def migration(**settings: Any) -> MigrationConfig:
    base = {"check": "c", "states": "s", "transform": "tests.migration_code:upgrade", "invariants":
            "tests.migration_code:invariants", "idempotent": True,
            "already_migrated": ["tests.migration_code:AlreadyMigrated"], "timeout_s": 3.0, "workers": 2}
    return MigrationConfig.model_validate(base | settings)


def load(store: Store, tmp_path: Path, kinds: dict[str, str], name: str = "s") -> None:
    states = [{"key": key, "state": {"user": key, "kind": kind, "lang": "de", "history": ["a", "b"]}}
              for key, kind in kinds.items()]
    for s in states:
        if s["key"] == "no-history":
            del s["state"]["history"]
    ingest_states(store, [write_jsonl(tmp_path / f"{name}.jsonl", states)], name, schema_version="v1",
                  progress=False)


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, MigrationConfig, Any]:
    """One check over a state of every kind, with a JSON Schema file (module-wide: the pool is slow)."""
    tmp = tmp_path_factory.mktemp("mig")
    store = Store(tmp / "h.duckdb")
    load(store, tmp, KINDS)
    schema = tmp / "schema_v2.json"
    schema.write_text(json.dumps(SCHEMA_V2), encoding="utf-8")
    config = migration(schema=str(schema))
    outcome = check_migration(store, config, base_dir=REPO, progress=False)
    return store, config, outcome


def results(store: Store, check_id: str = "c") -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in store.migration_results(check_id).to_dicts()}


def test_every_state_gets_one_outcome_and_the_check_goes_on_past_crashes_and_hangs(checked: Any) -> None:
    store, _, outcome = checked
    assert outcome.status == "completed" and outcome.n_checked == outcome.n_planned == len(KINDS)
    r = results(store)
    assert set(r) == set(KINDS)
    kind = {key: (row["outcome"], row["error_kind"]) for key, row in r.items()}
    assert kind["ok-1"] == kind["ok-2"] == kind["ok-3"] == ("ok", None)
    assert kind["raise"] == ("transform_error", "KeyError")
    assert "KeyError: 'preferences' (at migration_code.py:" in r["raise"]["error_message"]
    assert kind["not-json"] == ("transform_error", "not_serializable")
    assert kind["invalid"] == ("invalid", "type") and r["invalid"]["error_path"] == "$.language"
    assert r["invalid"]["error_message"] == "at $.language: 7 is not of type 'string'"
    assert kind["lose"] == ("invariant_broken", "no history entry lost")
    assert kind["no-history"] == ("invariant_broken", "invariants raised KeyError")
    assert kind["segfault"] == ("transform_error", "crashed") and "SIGSEGV" in r["segfault"]["error_message"]
    assert kind["exit"] == ("transform_error", "crashed") and "exit status 3" in r["exit"]["error_message"]
    assert kind["loop"] == kind["stubborn"] == ("transform_error", "timeout")
    # an error quoting an email is stored redacted
    assert "[EMAIL]" in r["email"]["error_message"] and "example.com" not in r["email"]["error_message"]
    assert outcome.outcomes == {"ok": 3, "transform_error": 7, "invalid": 1, "invariant_broken": 2,
                                "changed_on_reapply": 0}


def test_summary_counts_errors_fields_and_canary_steps(checked: Any) -> None:
    store, _, _ = checked
    summary = migration_summary(store, "c")
    assert summary.complete and summary.n_checked == len(KINDS) and summary.n_not_ok == 10
    top = {(e["outcome"], e["error_kind"]): e for e in summary.errors}
    assert top[("transform_error", "crashed")]["n"] == 2
    assert {x["key"] for x in top[("transform_error", "timeout")]["examples"]} == {"loop", "stubborn"}
    fields = {(f["path"], f["change"]): f for f in summary.fields}
    migrated = 3 + 1 + 1 + 1  # ok states, invalid, lose, no-history: the transform returned JSON
    assert fields[("$.kind", "dropped")]["n_states"] == migrated
    assert fields[("$.version", "added")]["share"] == 1.0
    assert fields[("$.history[]", "type_changed")]["types"] == "string -> object"
    assert [c["percent"] for c in summary.cohorts] == sorted({c["percent"] for c in summary.cohorts})
    assert summary.cohorts[-1] == {"percent": 100.0, "n": len(KINDS), "n_not_ok": 10}


def test_migrated_states_for_replay(checked: Any) -> None:
    store, _, _ = checked
    assert migrated_state(store, "c", "ok-1") == {"version": 2, "user": "ok-1", "language": "de",
                                                  "history": [{"text": "a"}, {"text": "b"}]}
    assert migrated_state(store, "c", "invalid") is None  # broken states are not handed out ...
    assert migrated_state(store, "c", "invalid", only_ok=False)["language"] == 7  # ... unless asked
    assert migrated_state(store, "c", "raise", only_ok=False) is None  # the transform gave nothing
    assert migrated_state(store, "c", "nobody") is None
    assert set(migrated_states(store, "c", ["ok-1", "ok-2", "loop", "nobody"])) == {"ok-1", "ok-2"}
    with pytest.raises(NotFoundError):
        migrated_state(store, "no-such-check", "ok-1")


def test_the_gate_fails_on_any_broken_state_and_a_complete_rerun_is_a_no_op(checked: Any) -> None:
    store, config, _ = checked
    result = migration_gate(store, config)
    assert result.status == "fail" and result.severity == "critical" and result.n == len(KINDS)
    assert result.estimate == pytest.approx(10 / 13) and result.ci_low == result.ci_high == result.estimate
    assert "10 of 13 states" in result.sentence and "transform_error 7" in result.sentence
    assert migration_gate(store, config.model_copy(update={"max_error_rate": 0.9})).status == "pass"
    missing = migration_gate(store, config.model_copy(update={"check": "nope"}))
    assert missing.status == "nodata" and "no migration check 'nope'" in missing.sentence
    again = check_migration(store, config, base_dir=REPO, progress=False)
    assert again.n_new == 0 and "already complete" in again.message


def test_pydantic_model_idempotence_and_changed_settings(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, {"a": "ok", "b": "invalid", "c": "ok", "boom": "ok"})
    config = migration(schema="tests.migration_code:StateV2", timeout_s=30.0)
    check_migration(store, config, base_dir=REPO, progress=False)
    r = results(store)
    assert (r["boom"]["outcome"], r["boom"]["error_kind"]) == ("invalid", "validator raised TypeError")
    assert r["b"]["outcome"] == "invalid" and r["b"]["error_kind"] == "string_type"
    assert r["b"]["error_path"] == "$.language" and "Input should be a valid string" in r["b"]["error_message"]
    assert r["a"]["outcome"] == "ok"  # re-applied, it raised the declared AlreadyMigrated
    # the same check id with another transform is refused; --replace redoes it
    other = config.model_copy(update={"transform": "tests.migration_code:upgrade_not_idempotent",
                                      "already_migrated": []})
    with pytest.raises(ConfigError, match=r"other settings \(already_migrated, transform differ\)"):
        check_migration(store, other, base_dir=REPO, progress=False)
    check_migration(store, other, base_dir=REPO, replace=True, progress=False)
    r = results(store)
    assert (r["a"]["outcome"], r["a"]["error_kind"]) == ("changed_on_reapply", "changed")
    assert r["a"]["error_path"] == "$.history" and "(length 2 -> 3)" in r["a"]["error_message"]
    assert r["b"]["outcome"] == "invalid"  # the first failing step decides
    with pytest.raises(ConfigError, match="`migration.transform` 'tests.migration_code:nope'.*no attribute"):
        check_migration(store, migration(transform="tests.migration_code:nope", schema="x:Y", check="d"),
                        base_dir=REPO, progress=False)
    with pytest.raises(ConfigError, match="`migration.schema` 'missing.json': no such file"):
        check_migration(store, migration(schema="missing.json", check="d"), base_dir=REPO, progress=False)


def test_a_changed_transform_is_a_different_check(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path, {"a": "ok"})
    module = tmp_path / "mig_digest_check.py"
    module.write_text("def up(state):\n    return state\n", encoding="utf-8")
    config = migration(check="e", transform="mig_digest_check:up", schema="tests.migration_code:StateV2",
                       invariants=None, idempotent=False, already_migrated=[], timeout_s=30.0)
    check_migration(store, config, base_dir=tmp_path, progress=False)
    assert results(store, "e")["a"]["outcome"] == "invalid"
    module.write_text("def up(state):\n    return {**state, 'fixed': True}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"other settings \(code_digest differ\)"):
        check_migration(store, config, base_dir=tmp_path, progress=False)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # pebble's reader thread dies
def test_a_broken_pool_is_rebuilt_and_only_the_state_that_broke_it_is_an_error(store: Store, tmp_path: Path) -> None:
    kinds = {f"ok-{i}": "ok" for i in range(12)} | {"corrupt": "corrupt_pool"}
    load(store, tmp_path, kinds)
    outcome = check_migration(store, migration(schema="tests.migration_code:StateV2", timeout_s=30.0), base_dir=REPO,
                              progress=False)
    r = results(store)
    assert outcome.status == "completed" and set(r) == set(kinds)
    assert (r["corrupt"]["outcome"], r["corrupt"]["error_kind"]) == ("transform_error", "pool_broken")
    assert all(r[k]["outcome"] == "ok" for k in kinds if k != "corrupt")


def test_cohorts_and_samples_are_the_canary_users(store: Store, tmp_path: Path) -> None:
    users = [f"user-{i}" for i in range(400)]
    load(store, tmp_path, dict.fromkeys(users, "ok"))
    canary = CanaryConfig(salt="spring")
    plan, scope = plan_states(store, migration(cohorts=[5, 20]), canary)
    expected = {u for u in users if stable_fraction(u, "spring") < 0.20}
    assert scope == "cohort 20%" and set(plan["key"]) == expected
    first = set(plan.filter(pl.col("cohort") == 5)["key"])
    assert first == {u for u in users if stable_fraction(u, "spring") < 0.05}
    # the canary plan, over requests from the same users, puts the same number of users in each step
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", [{"request_id": f"r{i}", "input": "hi", "user_id": u}
                                                        for i, u in enumerate(users)])], "log", progress=False)
    steps = {s.percent: s.users for s in plan_canary(store, "log", canary.model_copy(update={"steps": [5, 20]}),
                                                      GatesConfig()).steps}
    assert steps == {5: len(first), 20: len(expected)}
    sample, scope = plan_states(store, migration(sample=30), canary)
    assert scope == "sample of 30" and sample.height == 30
    assert set(sample["key"]) == set(sorted(users, key=lambda u: stable_fraction(u, "spring"))[:30])
    assert plan_states(store, migration(cohorts=[5, 100]), canary)[1] == "all"


def test_a_sample_without_errors_cannot_pass_a_zero_maximum(store: Store, tmp_path: Path) -> None:
    users = sorted((f"u{i}" for i in range(40)), key=lambda u: stable_fraction(u, "x"))
    canary = CanaryConfig(salt="x")
    load(store, tmp_path, dict.fromkeys(users[:-1], "ok") | {users[-1]: "raise"}, name="late")  # the last to get it
    load(store, tmp_path, dict.fromkeys(users[1:], "ok") | {users[0]: "raise"}, name="early")  # the first
    gates = {}
    for name in ("late", "early"):
        config = migration(schema="tests.migration_code:StateV2", check=name, states=name, sample=10, timeout_s=30.0)
        check_migration(store, config, canary=canary, base_dir=REPO, progress=False)
        assert set(store.migration_results(name)["key"]) == set(users[:10])
        gates[name] = migration_gate(store, config)
    late, early = gates["late"], gates["early"]
    assert late.estimate == 0 and late.status == "inconclusive" and late.ci_high > 0
    assert "a sample, so 95% CI 0.0% to" in late.sentence
    assert early.estimate == 0.1 and early.status == "fail" and early.ci_low > 0
