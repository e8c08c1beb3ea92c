"""`make validate`: the long validation of the gates on seeded synthetic runs.

Prints the A/A false-failure rate against the declared error level, and for planted
regressions of known size the observed detection rate next to the power calculation's
prediction. tests/test_gates_validation.py runs a short version of the same in `make test`.
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
    print("\nall within tolerance" if ok else "\nSOME RATES OUT OF TOLERANCE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
