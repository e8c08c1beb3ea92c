"""`make validate`: on the demo, sequential replay against the full run.

Generates the demo (prod v1 against candidate v2, with its state-migration check), replays it
once in full with the fixed-sample gates and once sequentially (waves, anytime-valid looks,
stop when decided) into the same store, and prints both verdicts and the share of the
requests the sequential replay used. The demo's migration check fails before any request is
replayed, so the comparison is made twice: as configured, and on the replay's own checks
alone (no [migration]). Exits 1 unless the verdicts agree and the share is at most 50%, both times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.config import HarnessConfig, load_config
from harness.demo.run import DEMO_DATASET, run_demo
from harness.gates import gate_run
from harness.pipeline import release
from harness.replay import new_run_id
from harness.store import Store

MAX_SHARE = 0.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wave-size", type=int, default=60, help="requests per wave")
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
        ok &= compare("the replay's checks alone", store, replay_only, verdict, full_spend, args.wave_size, Path(tmp))
        print("\nsame verdict with at most half the requests" if ok else "\nSEQUENTIAL DEMO CHECK FAILED")
        return 0 if ok else 1


def compare(title: str, store: Store, config: HarnessConfig, full_verdict: str, full_spend: float, wave_size: int,
            tmp: Path) -> bool:
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
    return seq.gates.verdict == full_verdict and share <= MAX_SHARE

if __name__ == "__main__":
    sys.exit(main())
