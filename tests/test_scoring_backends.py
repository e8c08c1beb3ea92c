"""Embedding backends (torch, onnx, onnx-int8) with the real packaged model, the ONNX export cache, and devices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from harness.config import ScoringConfig, parse_config
from harness.errors import ConfigError
from harness.scoring import Embedder, score_run
from harness.scoring.devices import batch_size_for, gpu_batch_size, resolve_device
from harness.scoring.embeddings import embed_texts
from harness.scoring.onnx_export import RECIPE, weights_digest
from harness.store import Store
from tests.procs import REPO, harness_env, run_harness
from tests.test_scoring import OUTPUTS, captured_run

TEXTS = [
    "Your order 1234 has shipped and will arrive on Friday.",
    "Order #1234 is on its way; expect it by Friday.",
    "Our return policy allows refunds within 30 days of purchase.",
    "I have issued a refund of $42.10 to your card ending in 4242; it takes 5-7 business days.",
    "Sorry, I cannot find an account with that email address. Could you check the spelling?",
    "ok",
    "Ihre Bestellung wurde versandt. 您的订单已发货。 🚚",
    " ".join(["The warranty covers manufacturing defects for two years but not accidental damage."] * 30),  # > 256 tokens
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return Embedder().encode(TEXTS)


def test_onnx_backends_agree_with_torch(onnx_cache: Path, torch_vectors: np.ndarray) -> None:
    # batches of 3 on 2 worker threads: rows come back in their texts' order whatever finishes first
    fp32 = Embedder(backend="onnx", cache_dir=str(onnx_cache), batch_size=3, threads=2).encode(TEXTS)
    int8 = Embedder(backend="onnx-int8", cache_dir=str(onnx_cache)).encode(TEXTS)
    for vectors in (fp32, int8):
        assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # float32 ONNX is the same computation: every vector within float noise of torch's
    assert np.max(np.abs(fp32 - torch_vectors)) < 1e-5
    # int8 is quantized (not the same vectors) but every pairwise similarity stays within 0.02
    assert np.max(np.abs(int8 - torch_vectors)) > 1e-4
    assert np.max(np.abs(int8 @ int8.T - torch_vectors @ torch_vectors.T)) <= 0.02
    files = sorted(onnx_cache.glob("onnx/*/model.onnx"))
    assert [f.parent.name.rsplit("-", 1)[1] for f in files] == ["fp32", "int8"]
    import onnx

    nodes = onnx.load(str(files[1]), load_external_data=False).graph.node
    ops = [node.op_type for node in nodes]
    fused = [node.op_type for node in onnx.load(str(files[0])).graph.node]
    # the optimizer's fusions: one Attention op per layer (QKV kept float32 in int8), layer norms, GELU
    assert fused.count("Attention") == ops.count("Attention") == 6 and fused.count("EmbedLayerNormalization") == 1
    assert fused.count("SkipLayerNormalization") == 12 and fused.count("BiasGelu") == 6
    # per layer: attention output and both feed-forward products in blocks of 64
    assert ops.count("MatMulNBits") == 18 and "MatMulNBits" not in fused and "MatMul" not in ops
    blocks = {a.i for node in nodes if node.op_type == "MatMulNBits" for a in node.attribute if a.name == "block_size"}
    assert blocks == {64}


def test_onnx_batches_group_texts_by_token_count(onnx_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Texts are batched by token count, not characters: a 20-digit number is more tokens than a
    28-letter word, so it joins the longer batch, and each batch pads to less."""
    embedder = Embedder(backend="onnx", cache_dir=str(onnx_cache), batch_size=2, threads=1)
    encoder = embedder._load()
    seen: list[tuple[int, ...]] = []
    forward = encoder._forward

    def recorded(features: dict[str, Any]) -> np.ndarray:
        seen.append(tuple(features["input_ids"].shape))
        return forward(features)

    monkeypatch.setattr(encoder, "_forward", recorded)
    texts = ["Antidisestablishmentarianism", "12345678901234567890", "a b c d e f g h i j", "ok"]
    vectors = embedder.encode(texts)
    assert sorted(seen) == [(2, 10), (2, 14)]  # by characters: (2, 14) and (2, 12)
    assert np.allclose(vectors, Embedder().encode(texts), atol=1e-5)


def test_concurrent_exporters_leave_one_good_model_that_later_loads_reuse(tmp_path: Path) -> None:
    """Two processes exporting into the same empty cache at once both succeed; one copy stays, nothing
    half-written, named after the weights and the recipe; a later load reuses it without exporting."""
    code = ("import sys; from harness.scoring import Embedder; "
            "v = Embedder(backend='onnx', cache_dir=sys.argv[1]).encode(['hello there']); print(v.shape)")
    processes = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, env=harness_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        assert out.strip() == "(1, 384)"
    (only,) = (tmp_path / "onnx").iterdir()
    assert [p.name for p in only.iterdir()] == ["model.onnx"]
    stamp = (only / "model.onnx").stat().st_mtime_ns
    later = Embedder(backend="onnx", cache_dir=str(tmp_path))
    later.encode(["again"])
    assert only.name == f"{weights_digest(later._load().model)}-{RECIPE}-fp32"
    assert (only / "model.onnx").stat().st_mtime_ns == stamp and list((tmp_path / "onnx").iterdir()) == [only]


def test_the_embedding_cache_is_keyed_by_model_and_backend(store: Store, onnx_cache: Path) -> None:
    torch_embedder = Embedder()
    int8 = Embedder(backend="onnx-int8", cache_dir=str(onnx_cache))
    assert (torch_embedder.cache_key, int8.cache_key) == ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2@onnx-int8")
    assert embed_texts(store, torch_embedder, TEXTS, progress=False).encoded == len(TEXTS)
    # torch's vectors are not int8's: nothing is shared, everything is encoded again under its own key
    assert embed_texts(store, int8, TEXTS, progress=False).encoded == len(TEXTS)
    assert embed_texts(store, Embedder(backend="onnx-int8", cache_dir=str(onnx_cache)), TEXTS,
                       progress=False).encoded == 0  # fmt: skip
    keys = store.sql("SELECT model, count(*) AS n FROM embeddings GROUP BY model ORDER BY model").rows()
    assert keys == [("all-MiniLM-L6-v2", len(TEXTS)), ("all-MiniLM-L6-v2@onnx-int8", len(TEXTS))]


def test_score_run_with_the_int8_backend_records_it(store: Store, tmp_path: Path, onnx_cache: Path) -> None:
    run_id = captured_run(store, tmp_path, OUTPUTS)
    summary = score_run(store, run_id, scoring=ScoringConfig(backend="onnx-int8", cache_dir=str(onnx_cache)),
                        progress=False)
    assert summary.texts_encoded == 6 and summary.new_scores > 0
    assert store.sql("SELECT DISTINCT model FROM embeddings")["model"].to_list() == ["all-MiniLM-L6-v2@onnx-int8"]
    recorded = store.sql("SELECT settings FROM scoring_runs")["settings"][0]
    assert '"backend": "onnx-int8"' in recorded


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_auto_picks_the_cpu_and_cuda_without_a_gpu_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match=r"scoring.device = 'cuda', but torch sees no CUDA GPU .*CPU-only build"):
        resolve_device("cuda")
    assert Embedder(device="auto").encode(["hi"]).shape == (1, 384)
    run_id = captured_run(store, tmp_path, OUTPUTS)
    config = tmp_path / "gpu.toml"
    config.write_text('[scoring]\ndevice = "cuda:0"\n')
    result = run_harness("score", run_id, "--config", str(config), "--db", str(store.path))
    assert result.returncode == 1
    assert "scoring.device = 'cuda:0', but torch sees no CUDA GPU" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_batch_size_is_chosen_for_the_device() -> None:
    gib = 1 << 30
    assert [gpu_batch_size(n * gib) for n in (2, 8, 24)] == [128, 256, 512]
    assert batch_size_for("cpu", None) == 64
    assert batch_size_for("cpu", 16) == 16 and batch_size_for("cuda", 32) == 32  # configured wins, no GPU asked


@pytest.mark.parametrize(("section", "message"), [
    ({"backend": "tensorrt"}, "scoring.backend"),
    ({"device": "gpu"}, "scoring.device"),
    ({"executor": "spark"}, "scoring.executor"),
    ({"max_text_chars": 10}, "scoring.max_text_chars"),
    ({"num_gpus": -1}, "scoring.num_gpus"),
])  # fmt: skip
def test_bad_scoring_keys_name_the_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"scoring": section})
