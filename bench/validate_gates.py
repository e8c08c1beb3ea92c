"""`make validate`: the long validation of the gates on seeded synthetic runs.

Prints the A/A false-failure rate against the declared error level, and for planted
regressions of known size the observed detection rate next to the power calculation's
prediction; then the same for tool-using agents on multi-step tasks (action-level checks,
minutes-long conversations, prod noisy against itself). tests/test_gates_validation.py runs a
short version of the same in `make test`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.config import GatesConfig  # noqa: E402
from harness.gates.simulate import (  # noqa: E402
    Effects,
    detection_rate,
    false_failure_rate,
    predicted_error_rate_power,
    predicted_segment_power,
)
from harness.gates.simulate_actions import Agent, expected_effect, predicted_power, run_many  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    settings = GatesConfig()
    seeds = range(1000, 1000 + args.seeds)
    ok = True
    aa = false_failure_rate(seeds, settings)
    ok &= aa <= settings.alpha
    print(f"A/A, {args.seeds} seeds: any critical check failed in {aa:.1%} of runs (declared error level"
          f" {settings.alpha:.0%}): {'ok' if aa <= settings.alpha else 'TOO HIGH'}")
    print("\nplanted regressions: observed detection vs predicted power")
    for add in (0.02, 0.03, 0.04, 0.05, 0.06):
        predicted = predicted_error_rate_power(add, 0.02, 1200, 0.02, settings.alpha)
        observed = detection_rate(Effects(error_rate_add=add), "error_rate_diff", seeds, settings)
        ok &= abs(observed - predicted) <= 0.1
        print(f"  error rate +{100 * add:.0f} pts (1,200 requests): observed {observed:.2f}, predicted {predicted:.2f}")
    for drop in (0.05, 0.052, 0.055, 0.06):
        predicted = predicted_segment_power(drop, 1200 / 4, 0.05)
        observed = detection_rate(Effects(quality_drop=drop, quality_drop_intent="refund_request"), "quality_delta",
                                  seeds, settings, segment="intent=refund_request")
        ok &= abs(observed - predicted) <= 0.1
        print(f"  quality -{drop:.3f} on one intent (~300 requests): observed {observed:.2f}, predicted {predicted:.2f}")
    for share, factor in ((0.03, 4), (0.05, 4), (0.05, 8), (0.10, 4)):
        observed = detection_rate(Effects(latency_tail_share=share, latency_tail_factor=factor), "latency_p99_ratio",
                                  seeds, settings)
        print(f"  {share:.0%} of calls {factor}x slower: latency_p99_ratio failed in {observed:.2f} of runs")
    ok &= validate_actions(settings, range(2000, 2000 + args.seeds // 2))
    print("\nall within tolerance" if ok else "\nSOME RATES OUT OF TOLERANCE")
    return 0 if ok else 1


def validate_actions(settings: GatesConfig, seeds: range, n_tasks: int = 2000) -> bool:
    """Tool-using agents: A/A and rewording proceed, planted success drops detected as predicted."""
    ok = True
    print(f"\ntool-using agents, {n_tasks:,} multi-step tasks, {len(seeds)} seeds (latency in minutes, no judge,"
          " reference actions known)")
    aa = run_many(Agent(), seeds, settings, n_tasks=n_tasks)
    false_fail = sum(any(c.severity == "critical" and c.status == "fail" for c in r.checks) for r in aa) / len(aa)
    ok &= false_fail <= settings.alpha
    proceed = sum(r.verdict == "proceed" for r in aa) / len(aa)
    rollback = sum(r.verdict == "rollback" for r in aa) / len(aa)
    print(f"  A/A: a critical check failed in {false_fail:.1%} of runs (level {settings.alpha:.0%}):"
          f" {'ok' if false_fail <= settings.alpha else 'TOO HIGH'}; proceed {proceed:.0%}, rollback {rollback:.0%}")
    reworded = run_many(Agent(rewording=0.15), seeds, settings, n_tasks=n_tasks)
    proceed_reworded = sum(r.verdict == "proceed" for r in reworded) / len(reworded)
    ok &= proceed_reworded >= proceed - 0.1
    print(f"  same success, new wording (similarity to prod 0.15 lower): proceed {proceed_reworded:.0%}")
    cheaper = run_many(Agent(success_shift=-0.10, cost_factor=0.5, latency_factor=0.7), seeds, settings,
                       n_tasks=n_tasks, segments=False)
    caught = sum(r.verdict == "rollback" for r in cheaper) / len(cheaper)
    ok &= caught >= 0.8
    print(f"  cheaper (0.5x) and faster (0.7x) but 10 points less successful: rollback {caught:.0%}")
    halfwidth = sum((c.ci_high - c.ci_low) / 2 for r in aa for c in r.checks
                    if c.check_name == "task_success_delta" and c.ci_low is not None) / len(aa)
    for drop in (0.05, 0.10, 0.20):
        effect = -expected_effect(-drop)
        predicted = predicted_power(effect, 0.05, halfwidth, settings.alpha)
        reports = run_many(Agent(success_shift=-drop), seeds, settings, n_tasks=n_tasks, segments=False,
                           only={"task_success_delta"})
        observed = sum(r.checks[0].status == "fail" for r in reports) / len(reports)
        ok &= abs(observed - predicted) <= 0.1
        print(f"  success -{100 * drop:.0f} pts (true {100 * effect:.1f}): task_success_delta failed in"
              f" {observed:.2f} of runs, predicted {predicted:.2f}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
