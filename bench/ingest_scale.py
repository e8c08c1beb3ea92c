"""Ingest at scale: harness ingest against DuckDB's own read_json on the same file, in one run.

Generates N canonical JSON lines (the demo generator's records, made unique) under a temp dir,
loads them with `read_json` into a table in a fresh DuckDB file, then ingests them with the
harness; each side runs in its own child process, which reports its wall time and its peak RSS
(VmHWM from /proc/self/status). Then the converted formats are ingested for their MB/s: Langfuse
traces as JSON Lines (converted in SQL where they can be), and OTel, OpenInference, LangSmith and
OpenAI chat logs copied from the test fixtures (bench/converted_formats.py; OpenAI chat in SQL where
it can be, the others in Python), each file of the same size (`--converted-mb`, 100 by default);
then 400 MB each of OTel and LangSmith copies, past the size from which a group's spans or runs
wait on disk, for their peak RSS. Targets (issue 17): ingest <= 2.0x read_json, peak RSS <= 1 GB,
converted formats >= 50 MB/s. CPU seconds (user + system, all threads) are printed too: on a
shared machine they say more than wall time about the work each side does.

    python bench/ingest_scale.py --lines 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from converted_formats import FORMATS, write_copies

LANGFUSE = HERE.parent / "tests" / "fixtures" / "langfuse" / "traces.jsonl"
LARGE = ("otel", "langsmith")
LARGE_MB = 400.0
"""An OTel or LangSmith file this large gathers its spans or runs on disk (past
harness.capture.gather.spill_bytes)."""
TARGETS = {"harness_over_duckdb": ("<=", 2.0), "harness_peak_rss_mb": ("<=", 1024.0),
           **{f"{fmt}_large_peak_rss_mb": ("<=", 1024.0) for fmt in LARGE},
           "langfuse_mb_per_s": (">=", 50.0), **{f"{fmt}_mb_per_s": (">=", 50.0) for fmt in FORMATS}}

_PEAK = """
import resource
def cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def write_canonical_lines(path: Path, n: int) -> Path:
    """n canonical records: the demo generator's, repeated with unique request ids."""
    from harness.demo.generator import generate_records

    base = [json.dumps(r) for r in generate_records(n_requests=1200)]
    ids = [json.loads(line)["request_id"] for line in base]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            k = i % len(base)
            f.write(base[k].replace(f'"request_id": "{ids[k]}"', f'"request_id": "{ids[k]}-{i // len(base)}"', 1) + "\n")
    return path


def write_langfuse_traces(path: Path, megabytes: float) -> tuple[Path, int]:
    """Langfuse traces (JSON Lines) of about `megabytes`, the fixture's traces with unique ids."""
    base = []
    for line in LANGFUSE.read_text(encoding="utf-8").splitlines():
        try:
            base.append(json.loads(line))
        except json.JSONDecodeError:  # the fixture holds a truncated line on purpose
            continue
    written, n = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < megabytes * 1e6:
            trace = dict(base[n % len(base)], id=f"lf-{n:08d}")
            if trace.get("input") is None:  # the fixture's trace without input would be quarantined
                trace["input"] = {"messages": [{"role": "user", "content": f"Please update my email ({n})"}]}
            line = json.dumps(trace) + "\n"
            f.write(line)
            written += len(line.encode())
            n += 1
    return path, n


def child(code: str) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; the JSON object it prints last."""
    out = subprocess.run([sys.executable, "-c", _PEAK + code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ingest_code(db: Path, log: Path, fmt: str = "auto") -> str:
    return f"""
import json, sys, time
sys.path.insert(0, {str(HERE.parent)!r})
from harness.ingest import ingest
from harness.store import Store
store = Store({str(db)!r})
t0, c0 = time.perf_counter(), cpu_s()
summary = ingest(store, [{str(log)!r}], "big", fmt={fmt!r}, progress=False)
print(json.dumps({{"s": time.perf_counter() - t0, "cpu": cpu_s() - c0, "rows": summary.n_requests,
                  "bad": summary.n_quarantined, "rss": peak_mb()}}))
"""


def duckdb_code(db: Path, log: Path) -> str:
    return f"""
import json, time, duckdb
t0, c0 = time.perf_counter(), cpu_s()
con = duckdb.connect({str(db)!r})
con.execute("CREATE TABLE raw AS SELECT * FROM read_json({str(log)!r}, format='newline_delimited')")
rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
con.close()
print(json.dumps({{"s": time.perf_counter() - t0, "cpu": cpu_s() - c0, "rows": rows, "rss": peak_mb()}}))
"""


def bench_ingest(n: int, converted_mb: float = 100.0) -> dict[str, float]:
    """The figures: both sides on the same file in fresh child processes, then each converted
    format's MB/s, Langfuse first, each on `converted_mb` (a throughput: on a small file the
    ingest's own start-up weighs on the figure); last, the peak RSS of large OTel and LangSmith files."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log = write_canonical_lines(root / "log.jsonl", n)
        raw = child(duckdb_code(root / "raw.duckdb", log))
        ours = child(ingest_code(root / "h.duckdb", log))
        size = log.stat().st_size
        log.unlink()
        traces, n_traces = write_langfuse_traces(root / "traces.jsonl", converted_mb)
        converted = child(ingest_code(root / "lf.duckdb", traces, "langfuse"))
        lf_size = traces.stat().st_size
        others = {}
        for fmt in FORMATS:
            log, _ = write_copies(fmt, root / f"{fmt}.jsonl", converted_mb)
            got = child(ingest_code(root / f"{fmt}.duckdb", log, fmt))
            assert got["rows"] > got["bad"], (fmt, got)  # the copies hold requests, not mostly set-aside lines
            others |= {f"{fmt}_mb_per_s": log.stat().st_size / 1e6 / got["s"], f"{fmt}_requests": got["rows"],
                       f"{fmt}_set_aside": got["bad"]}
            log.unlink()
        for fmt in LARGE:  # groups past the spill threshold (harness.capture.gather.spill_bytes): peak memory
            log, _ = write_copies(fmt, root / f"{fmt}-large.jsonl", LARGE_MB)
            large = child(ingest_code(root / f"{fmt}-large.duckdb", log, fmt))
            large_mb = log.stat().st_size / 1e6
            others |= {f"{fmt}_large_mb": large_mb, f"{fmt}_large_mb_per_s": large_mb / large["s"],
                       f"{fmt}_large_peak_rss_mb": large["rss"]}
            log.unlink()
    assert ours["rows"] == raw["rows"] == n, (ours, raw)
    assert converted["rows"] == n_traces, (converted, n_traces)
    return {"lines": n, "file_mb": size / 1e6, "duckdb_read_json_s": raw["s"], "harness_ingest_s": ours["s"],
            "harness_over_duckdb": ours["s"] / raw["s"], "duckdb_cpu_s": raw["cpu"], "harness_cpu_s": ours["cpu"],
            "cpu_ratio": ours["cpu"] / raw["cpu"], "duckdb_peak_rss_mb": raw["rss"],
            "harness_peak_rss_mb": ours["rss"], "harness_mb_per_s": size / 1e6 / ours["s"],
            "langfuse_mb": lf_size / 1e6, "langfuse_s": converted["s"], "langfuse_mb_per_s": lf_size / 1e6 / converted["s"],
            "langfuse_peak_rss_mb": converted["rss"], **others}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--converted-mb", type=float, default=100.0, help="size of each converted format's file")
    args = parser.parse_args()
    figures = bench_ingest(args.lines, args.converted_mb)
    sys.path.insert(0, str(HERE))
    from run import show

    ok = show(f"ingest: {args.lines:,} canonical JSON lines", figures, TARGETS)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
