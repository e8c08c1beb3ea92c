"""Start-up of the CLI, printed against its bounds (`make bench`, section `startup`).

- `harness --help` and `harness runs` (on a store with one run): median wall time of fresh
  processes, bound 0.3 s each, beside the floor of a fresh Python importing typer, polars, duckdb
  and rich (what a command that reads the store into frames pays before its own work; `runs` reads
  rows and imports no polars).
- The peer workload: `harness replay` of 2,000 requests x 2 agents (prod, candidate) through a
  local HTTP agent answering in 50 ms, 32 in flight, timed from process start to exit (start-up
  included) against the bound 2,000 x 2 x 0.05 s / 32 = 6.25 s; target within 1.15x. Where the time
  went: seconds from spawning the process to its first agent call, the calls' own span against the
  bound, and seconds from the last answer to the process's exit. Beside it, the same calls made
  by a bare aiohttp client loop (the library the http agent uses, nothing of the harness) against
  the same server: the floor the library sets on this machine for the calls' span.
Usage: python bench/startup.py [--repeats N] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESS = Path(sys.executable).parent / "harness"


def wall(argv: list[str], cwd: Path) -> float:
    """Seconds from spawning a command to its exit; it must succeed."""
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_wall(argv: list[str], cwd: Path, repeats: int) -> float:
    wall(argv, cwd)  # the first run warms the page cache and the bytecode
    return statistics.median(wall(argv, cwd) for _ in range(repeats))


def peer_workload(tmp: Path, n: int, latency: float, concurrency: int) -> dict[str, float]:
    """`harness ingest` then a timed `harness replay` of n requests x 2 arms through the agent server."""
    from run import agent_server, write_requests

    with agent_server("agent_server.py", latency) as (port, _):
        agent = f'kind = "http"\nurl = "http://127.0.0.1:{port}/answer"\n'
        (tmp / "harness.toml").write_text(
            f'db = "peer.duckdb"\n[replay]\ndataset = "peer"\nconcurrency = {concurrency}\ntimeout_s = 30\n'
            f"prod_repeat_fraction = 0.0\n[agents.prod]\n{agent}[agents.candidate]\n{agent}")
        subprocess.run([str(HARNESS), "ingest", str(write_requests(tmp / "peer.jsonl", n)), "--name", "peer",
                        "--config", "harness.toml"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        spawned = time.time()
        seconds = wall([str(HARNESS), "replay", "--config", "harness.toml", "--run-id", "peer"], tmp)
        bare = asyncio.run(_bare_aiohttp(f"http://127.0.0.1:{port}/answer", n * 2, concurrency))
    bound = n * 2 * latency / concurrency
    first, last = _answered(tmp / "peer.duckdb")
    return {"replay_s": seconds, "bound_s": bound, "replay_over_bound": seconds / bound,
            "to_first_call_s": first - spawned, "calls_over_bound": (last - first) / bound,
            "after_last_answer_s": spawned + seconds - last, "aiohttp_alone_over_bound": bare / bound}


async def _bare_aiohttp(url: str, n_calls: int, concurrency: int) -> float:
    """Seconds for `n_calls` POSTs of a request body by `concurrency` workers sharing one aiohttp
    session, each answer read and parsed: the http agent's library with nothing around it."""
    import aiohttp

    body = {"request_id": "r0000001", "input": "Where is my order 1?", "user_id": "u1",
            "metadata": {"intent": "order_status"}}
    left = iter(range(n_calls))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            for _ in left:
                async with session.post(url, json=body) as response:
                    json.loads(await response.read())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def _answered(db: Path) -> tuple[float, float]:
    """When the replay's first call started and its last answer came (epoch seconds, from the store):
    where the time went, start-up and the end apart from the loop."""
    from harness.store import Store

    row = Store(db, read_only=True).sql("SELECT epoch(min(started_at)) AS a, epoch(max(finished_at)) AS b FROM responses")
    return float(row["a"][0]), float(row["b"][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from run import show

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        # The floor no command can go below: starting Python and importing the libraries every command needs.
        figures = {"libraries_import_s": median_wall([sys.executable, "-c", "import typer, polars, duckdb, rich.table"],
                                                     tmp, args.repeats),
                   "help_s": median_wall([str(HARNESS), "--help"], tmp, args.repeats)}
        peer = peer_workload(tmp, args.requests, 0.05, 32)
        figures["runs_s"] = median_wall([str(HARNESS), "runs", "--db", "peer.duckdb"], tmp, args.repeats)
        figures |= peer
    ok = show(f"startup: median of {args.repeats} fresh processes; replay {args.requests:,} requests x 2 arms, "
              "HTTP agent 50 ms, 32 in flight, start-up included", figures,
              {"help_s": ("<=", 0.3), "runs_s": ("<=", 0.3), "replay_over_bound": ("<=", 1.15)})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
