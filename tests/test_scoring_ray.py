"""The Ray executor on a real local cluster: a head and a worker node on loopback (127.0.0.2), one CPU each.

A run is scored through the cluster by the real `harness score` process; the worker node is killed
(every one of its processes, SIGKILL) once the store shows encoded batches and the node holds a
model actor; scoring still ends complete, with the same scores as local scoring of the same run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.config import ScoringConfig
from harness.scoring import Embedder, score_run
from harness.store import Store
from tests.procs import start_harness, wait_for
from tests.ray_cluster import LocalRayCluster
from tests.test_scoring import captured_run

pytest.importorskip("ray.data")  # the [ray] extra; `make test` installs it

TOPICS = ["order", "refund", "invoice", "password", "delivery", "warranty", "subscription", "coupon"]


def outputs(n: int) -> dict[str, tuple[str, str, str]]:
    """n requests with distinct prod, prod_repeat and candidate answers (3n distinct texts)."""
    answers = {}
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        answers[f"r{i:04d}"] = (f"Your {topic} {i} was processed and you will get an email today.",
                                f"We processed {topic} number {i}; an email follows later today.",
                                f"Sorry, {topic} {i} cannot be found in our system.")  # fmt: skip
    return answers


@pytest.mark.timeout(240)
def test_ray_scoring_survives_a_lost_worker_and_matches_local(tmp_path: Path) -> None:
    store = Store(tmp_path / "ray.duckdb")
    run_id = captured_run(store, tmp_path, outputs(400))
    shutil.copy(store.path, tmp_path / "local.duckdb")
    reader = Store(store.path, read_only=True)
    n_texts = 1200

    with LocalRayCluster(workers=1, cpus=1) as cluster:
        config = tmp_path / "ray.toml"
        config.write_text(f'[scoring]\nexecutor = "ray"\nray_address = "{cluster.address}"\nconcurrency = 2\n')
        scoring = start_harness("score", run_id, "--config", str(config), "--db", str(store.path))
        worker = cluster.workers[0]

        def mid_job() -> bool:
            assert scoring.poll() is None, scoring.communicate()
            saved = reader.sql("SELECT count(*) AS n FROM embeddings")["n"][0]
            return 0 < saved < n_texts and any("MapWorker" in c for c in worker.commands().values())

        wait_for(mid_job, timeout=150, interval=0.1)
        saved_at_kill = reader.sql("SELECT count(*) AS n FROM embeddings")["n"][0]
        worker.kill()
        out, err = scoring.communicate(timeout=150)
        assert scoring.returncode == 0, err
        assert not worker.commands()

    assert 0 < saved_at_kill < n_texts
    assert f"{n_texts:,} texts encoded" in out
    assert reader.sql("SELECT count(*) AS n FROM embeddings")["n"][0] == n_texts

    local = Store(tmp_path / "local.duckdb")
    score_run(local, run_id, scoring=ScoringConfig(), embedder=Embedder(), progress=False)
    key = ["request_id", "scorer", "arm_a", "arm_b"]
    ray_scores = reader.scores(run_id).sort(key)
    local_scores = local.scores(run_id).sort(key)
    assert ray_scores.select(key).equals(local_scores.select(key))
    assert ray_scores.height == local_scores.height > 1200
    diff = (ray_scores["value"] - local_scores["value"]).abs().max()
    assert diff is not None and diff < 1e-4, diff
