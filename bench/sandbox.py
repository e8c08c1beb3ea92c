"""Tool-sandbox benchmarks (`make bench` sections `sandbox` and `tool_replay`).

  sandbox      harness CPU per tool call through the sandbox (policy, matching, event) with
               64 calls in flight in one process, no I/O: the sandbox's own overhead.
  tool_replay  N requests x 3 arms, each making 3 tool calls over HTTP to the sandbox's endpoint
               from the agent server (50 ms per answer), at concurrency C: wall time against the
               bound N*3*latency/C, harness CPU per tool call (endpoint, sandbox, events written).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = ("lookup_order", "check_stock", "issue_refund")


def _recorded(i: int) -> list[dict[str, object]]:
    return [{"name": name, "arguments": {"order_id": str(i)}, "result": {"order_id": str(i), "ok": True}}
            for name in TOOLS]


def bench_sandbox_calls(n_calls: int = 200_000, in_flight: int = 64) -> dict[str, float]:
    from run import cpu_seconds

    from harness.config import parse_config
    from harness.tools import Sandbox

    n_requests = 1000
    sandbox = Sandbox(parse_config({}).tools, {f"r{i}": _recorded(i) for i in range(n_requests)})
    per_worker = n_calls // in_flight

    async def worker(w: int) -> None:
        for k in range(per_worker // 3):
            i = (w * 7919 + k) % n_requests
            session = sandbox.open(f"r{i}", "candidate", k)
            for name in TOOLS:
                await session.call(name, {"order_id": str(i)})
            sandbox.release(session)
            sandbox.forget([(f"r{i}", "candidate", k)])

    async def run_all() -> None:
        await sandbox.prepare([f"r{i}" for i in range(n_requests)])
        await asyncio.gather(*(worker(w) for w in range(in_flight)))

    cpu0, t0 = cpu_seconds(), time.perf_counter()
    asyncio.run(run_all())
    calls = in_flight * (per_worker // 3) * 3
    cpu = cpu_seconds() - cpu0
    return {"calls": calls, "in_flight": in_flight, "wall_s": time.perf_counter() - t0, "cpu_s": cpu,
            "cpu_ms_per_call": 1000 * cpu / calls}


def bench_tool_replay(n: int, concurrency: int, latency: float) -> dict[str, float]:
    from run import agent_server, cpu_seconds, peak_rss_mb

    from harness.config import parse_config
    from harness.ingest import ingest
    from harness.replay import replay
    from harness.store import Store

    with agent_server("tool_agent_server.py", latency) as (port, server), tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        log = Path(tmp) / "log.jsonl"
        with open(log, "w", encoding="utf-8") as f:
            for i in range(n):
                f.write(json.dumps({"request_id": f"r{i:07d}", "input": f"refund order {i}",
                                    "metadata": {"order": str(i)},
                                    "captured": {"output": "ok", "tool_calls": _recorded(i)}}) + "\n")
        ingest(store, [log], "bench", progress=False)
        agent = {"kind": "http", "url": f"http://127.0.0.1:{port}/answer",
                 "body": {"tools": "{{tools_url}}", "key": "{{request_key}}", "order": "{{metadata.order}}"}}
        config = parse_config({"replay": {"dataset": "bench", "concurrency": concurrency, "timeout_s": 30},
                               "agents": {"prod": agent, "candidate": agent}})
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        summary = replay(config, store=store, progress=False)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        events = int(store.sql("SELECT count(*) AS n FROM tool_events")["n"][0])
        server_cpu = _process_cpu_s(server.pid)
    bound = n * 3 * latency / concurrency
    assert summary.status == "completed" and summary.n_errors == 0, summary
    return {"requests": n, "responses": summary.n_done, "tool_events": events, "wall_s": wall, "bound_s": bound,
            "wall_over_bound": wall / bound, "cpu_s": cpu, "cpu_ms_per_tool_call": 1000 * cpu / max(events, 1),
            "agent_server_cpu_s": server_cpu, "peak_rss_mb": peak_rss_mb()}


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc), to show where the time went."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
