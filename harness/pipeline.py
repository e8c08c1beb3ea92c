"""The release job as one library call: replay -> score -> gate -> report.

`harness run`, `harness compare`, `harness demo` and the benchmarks all call `release()`;
the CLI only parses options and prints. A captured comparison (shadow or canary variants
the log already holds) is the same job with captured agents: `captured_comparison()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config import HarnessConfig, ScoringConfig, load_config
from harness.errors import NotFoundError
from harness.outcome import ReleaseOutcome
from harness.store import Store, open_store

if TYPE_CHECKING:
    from harness.agents import Agent
    from harness.scoring import Embedder

__all__ = ["ReleaseOutcome", "release", "captured_comparison", "UnknownVariantError", "check_variants"]


class UnknownVariantError(NotFoundError):
    """A captured comparison names a variant the dataset does not hold."""

    def __init__(self, message: str, *, variant: str, role: str, present: list[str]) -> None:
        super().__init__(message)
        self.variant, self.role, self.present = variant, role, present


def release(
    config: HarnessConfig | str | Path,
    *,
    store: Store | None = None,
    dataset: str | None = None,
    run_id: str | None = None,
    profile: str | None = None,
    allow_incomplete: bool = False,
    report_path: str | Path | None = None,
    agents: Mapping[str, Agent] | None = None,
    embedder: Embedder | None = None,
    progress: bool = True,
) -> ReleaseOutcome:
    """Replay a dataset (or resume `run_id`), score it, gate it and write its report.

    A run that stops early (budget, interrupt) is scored, gated and reported only with
    `allow_incomplete`; its verdict is then at most pause_and_investigate. With `[replay]
    sequential = true` the replay goes wave by wave and stops once the anytime-valid gates decide."""
    from harness.gates import gate_run
    from harness.migration.gate import migration_checks
    from harness.pricing import PriceTable
    from harness.replay import replay
    from harness.report import write_report
    from harness.scoring import score_run

    if not isinstance(config, HarnessConfig):
        config = load_config(config, profile=profile)
    store = store or open_store(config.db)
    if config.replay.sequential:
        from harness.sequential_run import sequential_release

        return sequential_release(config, store=store, dataset=dataset, run_id=run_id, profile=profile, agents=agents,
                                  embedder=embedder, report_path=report_path, progress=progress)
    summary = replay(config, store=store, dataset=dataset, run_id=run_id, profile=profile, agents=agents,
                     progress=progress)
    outcome = ReleaseOutcome(store, summary)
    if summary.status != "completed" and not allow_incomplete:
        return outcome
    outcome.scores = score_run(store, summary.run_id, scoring=config.scoring or ScoringConfig(), judge=config.judge,
                               tools=config.tools, prices=PriceTable.with_overrides(config.prices),
                               embedder=embedder, progress=progress)
    outcome.gates = gate_run(store, summary.run_id, config.gates, allow_incomplete=allow_incomplete,
                             extra_checks=migration_checks(store, config))
    outcome.report = write_report(store, summary.run_id, report_path, config=config,
                                  allow_incomplete=allow_incomplete)
    return outcome


def captured_comparison(config: HarnessConfig, *, candidate: str, prod: str = "prod",
                        prod_repeat: str | None = None) -> HarnessConfig:
    """The config of a comparison of captured variants: each arm answers with what the log holds."""
    from harness.agents.captured import CapturedAgentConfig

    agents = {"prod": CapturedAgentConfig(kind="captured", variant=prod),
              "candidate": CapturedAgentConfig(kind="captured", variant=candidate)}
    if prod_repeat is not None:
        agents["prod_repeat"] = CapturedAgentConfig(kind="captured", variant=prod_repeat)
    replay = config.replay.model_copy(update={"prod_repeat_fraction": 1.0 if prod_repeat else 0.0})
    return config.model_copy(update={"agents": agents, "replay": replay})


def check_variants(store: Store, dataset: str, wanted: Mapping[str, str | None]) -> None:
    """UnknownVariantError (listing the variants the dataset has) for a wanted variant it lacks;
    `wanted` maps a role (candidate, prod, prod_repeat) to its variant."""
    store.dataset(dataset)  # NotFoundError for an unknown dataset
    present = store.captured_variants(dataset)
    for role, variant in wanted.items():
        if variant is not None and variant not in present:
            have = ", ".join(present) if present else "none (the log holds no captured outputs)"
            raise UnknownVariantError(f"dataset {dataset!r} has no captured variant {variant!r}; it has: {have}",
                                      variant=variant, role=role, present=present)
