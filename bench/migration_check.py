"""Benchmark: 100,000 captured states (with a few 2 MB ones) through ingest-states and migrate-check.

The check runs in a fresh process with the demo's v1 -> v2 transform, its pydantic target model,
its invariants and the idempotence re-apply, on every CPU. Printed: wall time of both steps,
the peak memory of the whole process tree, and the check's time
against the same per-state work done by a plain loop in one process (json, transform, validation,
invariants, re-apply), scaled to the number of workers. Memory is the peak, over the run, of the
summed PSS of the process tree (parent, forkserver, workers); the summed RSS is printed too.

    python bench/migration_check.py [--states 100000]     (also: python bench/run.py migration)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

BIG_STATES = 20
BIG_HISTORY = 20_000  # entries: about 2 MB of JSON


def write_states(path: Path, n: int) -> Path:
    """n demo-like v1 states (the demo's shapes, legacy ones included) and BIG_STATES of about 2 MB."""
    from harness.demo.generator import generate_records
    from harness.demo.states import demo_states

    templates = [s["state"] for s in demo_states(generate_records(n_requests=600, n_users=150))]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            state = dict(templates[i % len(templates)], user_id=f"user-{i:07d}")
            if i % (n // BIG_STATES) == 0 and isinstance(state.get("history"), list) and state["history"]:
                state["history"] = state["history"][:1] * BIG_HISTORY
            f.write(json.dumps({"key": f"user-{i:07d}", "state": state}) + "\n")
    return path


def child(workdir: Path) -> None:
    """The measured process: ingest-states, then migrate-check; prints its timings as JSON."""
    from harness.config import load_config
    from harness.demo.run import write_demo_config
    from harness.migration import check_migration, ingest_states
    from harness.store import Store

    config = load_config(write_demo_config(workdir / "harness.toml"))
    store = Store(workdir / "bench.duckdb")
    t0 = time.perf_counter()
    ingest_states(store, [workdir / "states.jsonl"], "demo-states", schema_version="v1", progress=False)
    t1 = time.perf_counter()
    outcome = check_migration(store, config.migration, canary=config.canary, progress=False)  # type: ignore[arg-type]
    t2 = time.perf_counter()
    print(json.dumps({"ingest_s": t1 - t0, "check_s": t2 - t1, "checked": outcome.n_checked,
                      "outcomes": outcome.outcomes, "workers": os.cpu_count()}))


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(summed PSS, summed RSS) of a process and all its descendants, from /proc. PSS splits pages
    shared by forked workers between them, so its sum is the memory the tree really holds; the RSS
    sum counts shared pages once per process (an upper bound)."""
    pss = rss = 0
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return pss / 1024, rss / 1024


def raw_seconds_per_state(path: Path, limit: int) -> float:
    """The user's per-state work in a plain loop, one process, no store and no pool."""
    from harness.demo.migration import StateV2, invariants, migrate_v1_to_v2

    with open(path, encoding="utf-8") as f:
        texts = [json.dumps(json.loads(line)["state"]) for _, line in zip(range(limit), f, strict=False)]
    start = time.perf_counter()
    for text in texts:
        old = json.loads(text)
        try:
            new = json.loads(json.dumps(migrate_v1_to_v2(json.loads(text))))
        except AttributeError:  # the planted bug: that state's work ends here, as in the check
            new = None
        if new is not None:
            StateV2.model_validate(new)
            invariants(old, new)
            migrate_v1_to_v2(json.loads(json.dumps(new)))
    return (time.perf_counter() - start) / len(texts)


def bench_migration(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_states(workdir / "states.jsonl", n)
        size_mb = (workdir / "states.jsonl").stat().st_size / 1e6
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(workdir)], stdout=subprocess.PIPE,
                                text=True, env=dict(os.environ, PYTHONPATH=str(HERE.parent)))
        peak_pss = peak_rss = 0.0
        while proc.poll() is None:
            pss, rss = tree_memory_mb(proc.pid)
            peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
            time.sleep(0.2)
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"the measured process failed ({proc.returncode})")
        result = json.loads(out.strip().splitlines()[-1])
        per_state = raw_seconds_per_state(workdir / "states.jsonl", 20_000)
    bound = per_state * result["checked"] / result["workers"]
    return {"states": result["checked"], "file_mb": size_mb, "ingest_s": result["ingest_s"],
            "check_s": result["check_s"], "states_per_s": result["checked"] / result["check_s"],
            "raw_bound_s": bound, "check_over_raw": result["check_s"] / bound, "peak_tree_pss_mb": peak_pss,
            "peak_tree_rss_sum_mb": peak_rss,
            "not_ok": result["checked"] - result["outcomes"]["ok"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--states", type=int, default=100_000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return 0
    from run import show

    figures = bench_migration(args.states)
    ok = show(f"migration: {args.states:,} states ({BIG_STATES} of ~2 MB), ingest-states + migrate-check", figures,
              {"peak_tree_pss_mb": ("<=", 1024)})
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
