"""`make bench`: the harness against physical bounds, printed as ratios (not timed unit tests).

Sections (all by default, or name some): replay, scale, scoring, report, ingest, migration, backends, ray,
stream, startup.
  replay  N requests x 3 arms through a local HTTP agent with fixed latency at concurrency C;
          wall time vs the bound N*arms*latency/C, harness CPU per response, peak RSS.
  scale   a 1,000,000-request dataset replayed through a fast local python agent, in a fresh
          process, to show peak RSS stays bounded (requests are streamed, results batched).
  scoring the demo run scored from an empty cache vs raw SentenceTransformer.encode of the
          same distinct texts with the same loaded model, in one process; then re-scoring.
  report  a 100,000-request run (three arms, scores, gates) written through the store's API,
          then the release report rendered: seconds and file size.
  ingest  1,000,000 canonical JSON lines (demo records: metadata, references, captured outputs
          with tool calls) ingested, against DuckDB's own read_json loading the same file
          into a table; peak memory of each, in fresh processes; then MB/s of each converted
          format: Langfuse traces, OTel, OpenInference, LangSmith, OpenAI chat logs
          (bench/ingest_scale.py, bench/converted_formats.py).
  migration 100,000 captured states (20 of ~2 MB) through ingest-states and migrate-check in a fresh
          process: wall time, peak memory of the process tree (summed PSS), and the check's time
          against the same per-state work in a plain loop, scaled to the workers (migration_check.py).
  startup `harness --help` and `harness runs` against 0.3 s; the peer replay workload with start-up (startup.py).
  sandbox, tool_replay  the tool sandbox: CPU per tool call, and a replay with 3 tool calls per answer
          through the sandbox's HTTP endpoint (bench/sandbox.py).
  backends, ray, stream  scoring at scale (ONNX backends, the Ray executor, a 200,000-text
          stream through one driver): see bench/scoring_scale.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


SCALE_SECTIONS = ("backends", "ray", "stream")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_requests(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"request_id": f"r{i:07d}", "input": f"Where is my order {i}?",
                                "user_id": f"u{i % 5000}", "metadata": {"intent": "order_status"}}) + "\n")
    return path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def agent_server(script: str, latency: float) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A local agent server (bench/<script>) answering after `latency` seconds; yields its port and process."""
    port = free_port()
    server = subprocess.Popen([sys.executable, str(HERE / script), str(port), str(latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield port, server
    finally:
        server.terminate()
        server.wait()


def bench_replay(n: int, concurrency: int, latency: float) -> dict[str, float]:
    from harness.config import parse_config
    from harness.ingest import ingest
    from harness.replay import replay
    from harness.store import Store

    with agent_server("agent_server.py", latency) as (port, _), tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        ingest(store, [write_requests(Path(tmp) / "log.jsonl", n)], "bench", progress=False)
        agent = {"kind": "http", "url": f"http://127.0.0.1:{port}/answer"}
        config = parse_config({"replay": {"dataset": "bench", "concurrency": concurrency, "timeout_s": 30},
                               "agents": {"prod": agent, "candidate": agent}})
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        summary = replay(config, store=store, progress=False)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    responses = summary.n_done
    bound = n * 3 * latency / concurrency
    assert summary.status == "completed" and responses == 3 * n, summary
    return {"requests": n, "responses": responses, "errors": summary.n_errors, "wall_s": wall, "bound_s": bound,
            "wall_over_bound": wall / bound, "cpu_s": cpu, "cpu_ms_per_response": 1000 * cpu / responses,
            "peak_rss_mb": peak_rss_mb()}


def bench_scale(n: int) -> dict[str, float]:
    """Runs in a child process so its peak RSS is its own."""
    code = f"""
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {str(HERE.parent)!r}); sys.path.insert(0, {str(HERE)!r})
from run import write_requests
from harness.config import parse_config
from harness.ingest import ingest
from harness.replay import replay
from harness.store import Store
with tempfile.TemporaryDirectory() as tmp:
    store = Store(Path(tmp) / "scale.duckdb")
    t0 = time.perf_counter()
    ingest(store, [write_requests(Path(tmp) / "log.jsonl", {n})], "scale", progress=False)
    t_ingest = time.perf_counter() - t0
    agent = {{"kind": "python", "callable": "fast_agent:answer"}}
    config = parse_config({{"replay": {{"dataset": "scale", "concurrency": 64, "flush_rows": 20000,
                                       "prod_repeat_fraction": 0}},
                           "agents": {{"prod": agent, "candidate": agent}}}})
    t0 = time.perf_counter()
    summary = replay(config, store=store, progress=False)
    t_replay = time.perf_counter() - t0
    assert summary.status == "completed", summary
    print(json.dumps({{"requests": {n}, "responses": summary.n_done, "ingest_s": t_ingest, "replay_s": t_replay,
                      "responses_per_s": summary.n_done / t_replay,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def demo_run(root: Path) -> tuple[Any, Any, str]:
    """The demo replayed (agents' latencies scaled down) into root/bench.duckdb, not scored: (store, config, run_id)."""
    from harness.config import load_config
    from harness.demo.generator import write_log
    from harness.demo.run import DEMO_DATASET, write_demo_config
    from harness.ingest import ingest
    from harness.replay import replay
    from harness.store import Store

    os.environ["HARNESS_DEMO_LATENCY_SCALE"] = "0.05"
    store = Store(root / "bench.duckdb")
    ingest(store, [write_log(root / "log.jsonl")], DEMO_DATASET, progress=False)
    config = load_config(write_demo_config(root / "harness.toml"))
    return store, config, replay(config, store=store, progress=False).run_id


def demo_texts(store: Any) -> list[str]:
    """The distinct texts scoring the demo run embeds: successful outputs and reference answers."""
    import polars as pl

    return pl.concat([
        store.sql("SELECT output AS t FROM responses WHERE output IS NOT NULL AND error_type IS NULL"),
        store.sql("SELECT reference_output AS t FROM requests WHERE reference_output IS NOT NULL"),
    ])["t"].unique().to_list()  # fmt: skip


def bench_scoring() -> dict[str, float]:
    from harness.scoring import Embedder, score_run

    with tempfile.TemporaryDirectory() as tmp:
        store, config, run_id = demo_run(Path(tmp))
        texts = demo_texts(store)
        embedder = Embedder()
        embedder.encode(texts[:64])  # load and warm the model outside both timings
        t0 = time.perf_counter()
        embedder.encode(texts)
        raw = time.perf_counter() - t0
        store.sql("SELECT 1")  # same process, same model object from here on
        t0 = time.perf_counter()
        first = score_run(store, run_id, scoring=config.scoring, embedder=embedder, progress=False)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = score_run(store, run_id, scoring=config.scoring, embedder=embedder, progress=False)
        t_again = time.perf_counter() - t0
    assert again.texts_encoded == 0 and again.new_scores == 0
    return {"distinct_texts": len(texts), "texts_encoded": first.texts_encoded, "raw_encode_s": raw,
            "first_scoring_s": t_first, "throughput_vs_raw": raw / t_first, "rescoring_s": t_again,
            "first_over_rescore": t_first / t_again}


def bench_report(n: int) -> dict[str, float]:
    import numpy as np
    import polars as pl

    from harness.gates import gate_run
    from harness.ingest import ingest
    from harness.records import Response
    from harness.report import write_report
    from harness.store import Store

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        intents = ["order_status", "refund_request", "product_question", "shipping_change", "cancel_order"]
        with open(root / "log.jsonl", "w", encoding="utf-8") as f:
            for i in range(n):
                f.write(json.dumps({"request_id": f"r{i:07d}", "input": f"question {i}", "user_id": f"u{i % 20000}",
                                    "reference": f"answer {i}" if i % 3 == 0 else None,
                                    "metadata": {"intent": intents[i % 5], "tier": ["free", "pro"][i % 2],
                                                 "flags": {"new-checkout": bool(i % 4)}}}) + "\n")
        store = Store(root / "report.duckdb")
        ingest(store, [root / "log.jsonl"], "big", progress=False)
        store.create_run({"run_id": "big-run", "dataset": "big", "status": "completed", "n_planned": 3 * n,
                          "config": {}, "plan": {}})
        ids = [f"r{i:07d}" for i in range(n)]
        for arm, slow in (("prod", 1.0), ("prod_repeat", 1.0), ("candidate", 1.15)):
            costs, latencies = rng.lognormal(-6.5, 0.3, n), rng.lognormal(6.0, 0.5, n) * slow
            failed = rng.random(n) < 0.01
            store.write_responses("big-run", [
                Response("big-run", ids[i], arm, 0, f"{arm} says answer {i}", '[{"name": "lookup"}]', 1, 800, 90, 0,
                         float(costs[i]), float(latencies[i]), "gpt-4.1", "timeout" if failed[i] else None, None, 1,
                         None, None)
                for i in range(n)])
        scores = []
        for arm_a, arm_b, scorer, centre in (("candidate", "prod", "similarity", 0.82), ("prod_repeat", "prod", "similarity", 0.86),
                                              ("candidate", "prod", "tool_set_changed", 0.05),
                                              ("prod_repeat", "prod", "tool_set_changed", 0.02)):
            values = rng.normal(centre, 0.08, n) if scorer == "similarity" else (rng.random(n) < centre).astype(float)
            scores.append(pl.DataFrame({"request_id": ids, "scorer": scorer, "arm_a": arm_a, "arm_b": arm_b,
                                        "value": values, "details": "{}"}))
        referenced = ids[::3]
        for arm in ("prod", "prod_repeat", "candidate"):
            scores.append(pl.DataFrame({"request_id": referenced, "scorer": "similarity", "arm_a": arm,
                                        "arm_b": "reference", "value": rng.normal(0.85, 0.07, len(referenced)),
                                        "details": "{}"}))
        store.save_scores("big-run", pl.concat(scores))
        t0 = time.perf_counter()
        gate_run(store, "big-run")
        t_gate = time.perf_counter() - t0
        t0 = time.perf_counter()
        path = write_report(store, "big-run", root / "big.html")
        t_report = time.perf_counter() - t0
        size = path.stat().st_size
    return {"requests": n, "responses": 3 * n, "gate_s": t_gate, "report_s": t_report,
            "report_mb": size / 1e6}


def show(title: str, figures: dict[str, float], targets: dict[str, tuple[str, float]]) -> bool:
    print(f"\n== {title}")
    ok = True
    for key, value in figures.items():
        line = f"  {key:<22} {value:,.3f}" if isinstance(value, float) else f"  {key:<22} {value:,}"
        if key in targets:
            op, limit = targets[key]
            met = value <= limit if op == "<=" else value >= limit
            ok &= met
            line += f"   target {op} {limit:g}: {'met' if met else 'MISSED'}"
        print(line)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*",
                        default=["replay", "scale", "scoring", "report", "ingest", "migration", "sandbox",
                                 "tool_replay", *SCALE_SECTIONS, "startup"])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--scale-requests", type=int, default=1_000_000)
    parser.add_argument("--ingest-lines", type=int, default=1_000_000)
    parser.add_argument("--converted-mb", type=float, default=100.0)
    parser.add_argument("--migration-states", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ok = True
    if "replay" in args.sections:
        figures = bench_replay(args.requests, args.concurrency, args.latency)
        ok &= show(f"replay: {args.requests:,} requests x 3 arms, HTTP agent {args.latency * 1000:g} ms, "
                   f"concurrency {args.concurrency}", figures,
                   {"wall_over_bound": ("<=", 1.15), "cpu_ms_per_response": ("<=", 0.5)})
    if "scale" in args.sections:
        figures = bench_scale(args.scale_requests)
        ok &= show(f"scale: {args.scale_requests:,} requests x 2 arms, fast python agent", figures,
                   {"peak_rss_mb": ("<=", 1536)})
    if "scoring" in args.sections:
        figures = bench_scoring()
        ok &= show("scoring: the demo run, embeddings from an empty cache, then re-scored", figures,
                   {"throughput_vs_raw": (">=", 0.9), "first_over_rescore": (">=", 20)})
    if "report" in args.sections:
        figures = bench_report(100_000)
        ok &= show("report: a 100,000-request run, three arms", figures,
                   {"report_s": ("<=", 15.0), "report_mb": ("<=", 5.0)})
    if "ingest" in args.sections:  # bench/ingest_scale.py: against read_json, peak RSS, a converted format
        from ingest_scale import TARGETS, bench_ingest

        figures = bench_ingest(args.ingest_lines, args.converted_mb)
        ok &= show(f"ingest: {args.ingest_lines:,} canonical JSON lines, then the converted formats", figures,
                   TARGETS)
    if "migration" in args.sections:
        from migration_check import BIG_STATES, bench_migration

        figures = bench_migration(args.migration_states)
        ok &= show(f"migration: {args.migration_states:,} states ({BIG_STATES} of ~2 MB), ingest-states +"
                   " migrate-check", figures, {"peak_tree_pss_mb": ("<=", 1024)})
    if "sandbox" in args.sections:
        from sandbox import bench_sandbox_calls

        ok &= show("sandbox: tool calls through the sandbox, 64 in flight, no I/O", bench_sandbox_calls(),
                   {"cpu_ms_per_call": ("<=", 1.0)})
    if "tool_replay" in args.sections:
        from sandbox import bench_tool_replay

        figures = bench_tool_replay(args.requests, args.concurrency, args.latency)
        ok &= show(f"tool_replay: {args.requests:,} requests x 3 arms x 3 tool calls through the sandbox endpoint,"
                   f" HTTP agent {args.latency * 1000:g} ms, concurrency {args.concurrency}", figures,
                   {"wall_over_bound": ("<=", 1.2), "cpu_ms_per_tool_call": ("<=", 1.0)})
    wanted = [name for name in SCALE_SECTIONS if name in args.sections]
    if wanted:  # scoring at scale: backends, Ray, streaming (bench/scoring_scale.py)
        from scoring_scale import run_sections

        ok &= run_sections(wanted, show)
    if "startup" in args.sections:
        ok &= subprocess.run([sys.executable, str(HERE / "startup.py")]).returncode == 0
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
