"""`make validate`: on the demo, sequential replay against the full run.

Generates the demo (prod v1 against candidate v2, with its state-migration check), replays it
once in full with the fixed-sample gates and once sequentially (waves, anytime-valid looks,
stop when decided) into the same store, and prints both verdicts and the share of the
requests the sequential replay used. The demo's migration check fails before any request is
replayed, so the comparison is made twice: as configured, and on the replay's own checks
alone (no [migration]). There the only critical failure is an action-F1 drop of about 9 points
against a 5-point margin on the ~180 requests with reference actions: a fixed-sample interval
barely excludes the margin, and no anytime-valid one can on so few, so the sequential run
rightly ends undecided (pause_and_investigate), never with a contradicting verdict.

Then planted regressions: prod v1 as the candidate, failing a stable share of requests
(several sizes, several replay seeds); it prints the verdicts and the median share of the
dataset read before the stop. Exits 1 when the configured demo's verdicts differ or need more
than 50% of the requests, or when any sequential verdict contradicts the full run's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.config import HarnessConfig, load_config
from harness.demo.agents import prod_v1
from harness.demo.run import DEMO_DATASET, run_demo
from harness.gates import gate_run
from harness.pipeline import release
from harness.records import Request
from harness.replay import new_run_id
from harness.stats import stable_fraction
from harness.store import Store

MAX_SHARE = 0.5
#: Planted error rates (the error_rate check fails above 5%, error_rate_diff above +2 points).
PLANTED = (0.1, 0.2, 0.4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wave-size", type=int, default=60, help="requests per wave")
    parser.add_argument("--seeds", type=int, default=3, help="replay seeds per planted regression")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full = run_demo(tmp, progress=False)
        store = Store(full.db)
        config = load_config(full.config)
        full_spend = store.run_totals(full.replay.run_id)["spend_usd"]
        print(f"demo: {store.dataset(DEMO_DATASET)['n_requests']:,} requests, waves of {args.wave_size}")
        ok = compare("as configured (with the migration check)", store, config, full.gates.verdict, full_spend,
                     args.wave_size, Path(tmp))
        replay_only = config.model_copy(update={"migration": None})
        verdict = gate_run(store, full.replay.run_id, replay_only.gates).verdict
        ok &= compare("the replay's checks alone", store, replay_only, verdict, full_spend, args.wave_size, Path(tmp),
                      agree_or_undecided=True)
        ok &= planted(store, replay_only, args.wave_size, Path(tmp), args.seeds)
        print("\nsame verdict with at most half the requests" if ok else "\nSEQUENTIAL DEMO CHECK FAILED")
        return 0 if ok else 1


def compare(title: str, store: Store, config: HarnessConfig, full_verdict: str, full_spend: float, wave_size: int,
            tmp: Path, agree_or_undecided: bool = False) -> bool:
    """A sequential release of the demo beside the full run's verdict; True when it agrees with half the data."""
    config = config.model_copy(update={"replay": config.replay.model_copy(
        update={"sequential": True, "wave_size": wave_size})})
    run_id = new_run_id()
    seq = release(config, store=store, run_id=run_id, report_path=tmp / f"{run_id}.html", progress=False)
    assert seq.sequential is not None and seq.gates is not None
    s = seq.sequential
    share = s.n_used / s.n_total
    print(f"\n{title}:")
    print(f"  full run        verdict {full_verdict:<22} requests {s.n_total:>6,}  spend ${full_spend:,.4f}")
    print(f"  sequential run  verdict {seq.gates.verdict:<22} requests {s.n_used:>6,}  spend ${s.spend_usd:,.4f}"
          f"  looks {s.looks}  stop: {s.stop_reason}")
    print(f"  share of requests used: {share:.1%} (at most {MAX_SHARE:.0%} required); saved about ${s.saved_usd:,.4f}")
    decided = [c for c in seq.gates.checks if c.status in ("fail", "pass")]
    print("  decided at the stop: " + ", ".join(f"{c.check_name}={c.status}" for c in decided))
    strict = seq.gates.verdict == full_verdict and share <= MAX_SHARE
    print(f"  same verdict with at most {MAX_SHARE:.0%} of the requests: {'met' if strict else 'MISSED'}")
    if agree_or_undecided:  # an undecided stop is allowed here; a contradicting verdict is not
        return seq.gates.verdict in (full_verdict, "pause_and_investigate")
    return strict


async def planted_candidate(request: Request) -> dict[str, Any]:
    """prod v1, failing the share of requests HARNESS_PLANTED_ERROR names (stable per request id)."""
    if stable_fraction(request.request_id, "planted") < float(os.environ.get("HARNESS_PLANTED_ERROR", "0")):
        raise RuntimeError("planted failure")
    return await prod_v1(request)


def planted(store: Store, config: HarnessConfig, wave_size: int, tmp: Path, seeds: int) -> bool:
    """Sequential runs with planted error regressions: verdicts and the median share read."""
    from harness.agents.python_callable import PythonAgentConfig

    candidate = PythonAgentConfig(kind="python", callable=f"{Path(__file__).stem}:planted_candidate")
    print("\nplanted regressions (prod v1 as the candidate, failing a stable share of requests;"
          f" {seeds} replay seeds each):")
    ok = True
    for size in PLANTED:
        os.environ["HARNESS_PLANTED_ERROR"] = str(size)
        verdicts, shares = [], []
        for seed in range(seeds):
            cfg = config.model_copy(update={
                "agents": {**config.agents, "candidate": candidate},
                "replay": config.replay.model_copy(update={"sequential": True, "wave_size": wave_size, "seed": seed,
                                                           "prod_repeat_fraction": 0.0})})
            run_id = new_run_id()
            seq = release(cfg, store=store, run_id=run_id, report_path=tmp / f"{run_id}.html", progress=False)
            assert seq.sequential is not None
            verdicts.append(seq.verdict)
            shares.append(seq.sequential.n_used / seq.sequential.n_total)
        rollbacks = sum(v == "rollback" for v in verdicts)
        ok &= "proceed" not in verdicts
        print(f"  +{size:.0%} errors: rollback in {rollbacks}/{seeds} runs, median share read"
              f" {statistics.median(shares):.1%} (range {min(shares):.1%}-{max(shares):.1%}); verdicts: {verdicts}")
    return ok

if __name__ == "__main__":
    sys.exit(main())
