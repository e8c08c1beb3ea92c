"""Export a sentence-transformers model's transformer to ONNX (and int8) once, from local weights, cached on disk.

Why it looks like this:
- sentence-transformers' own `backend="onnx"` needs optimum-onnx, whose releases pin transformers
  below 4.58 while sentence-transformers 6 needs transformers 5; so the transformer is exported here
  with torch's exporter and run by ONNX Runtime, while tokenizing and pooling stay
  sentence-transformers' own modules (see harness.scoring.backends).
- The transformer is traced with eager attention (matrix products and a softmax), not the default
  scaled-dot-product attention, whose traced graph (masking with IsNaN/Where) ONNX Runtime's
  transformer optimizer does not recognize. From the eager graph the optimizer fuses each layer's
  attention into one Attention op (Q, K and V projected by one matrix product, the padding mask as
  sequence lengths from the fused embedding layer norm), layer norms with their residual adds and
  GELU with its bias: fewer, faster kernels, same numbers.
- int8 is ONNX Runtime's block-wise 8-bit weight quantization (MatMulNBits, blocks of 64, int8
  compute, so activations are quantized per block too) of the other matrix products (attention
  output and both feed-forward ones); the Attention op's QKV projection stays float32: quantized
  (the optimizer's MultiHeadAttention form leaves it as matrix products) it was no faster and less
  accurate. Blocks of 64 halved the largest pair-similarity difference from torch of blocks of 128
  (0.008 against 0.016 on one demo run) at no cost in speed beyond the machine's noise.
- Not per-tensor dynamic quantization (what `export_dynamic_quantized_onnx_model` applies,
  MatMulInteger), even per output channel: it is much faster on this kind of CPU but moved some pair
  similarities by 0.05-0.08, the feed-forward products above all, because a few tokens ([CLS]
  above all) carry activations several times larger than the rest and set the whole tensor's scale.
- The cache is keyed by a hash of the weights and the recipe, so another model or a retrained one
  never picks up a stale file. Exports go to a temporary directory that is renamed into place, so
  concurrent exporters (Ray actors, parallel jobs) never see or leave a half-written model.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError

__all__ = ["RECIPE", "default_cache_root", "exported_model", "weights_digest"]

RECIPE = "v3"
"""Bump when the export or quantization recipe changes: older cache entries are then ignored."""
_FILE = "model.onnx"
_OPSET = 17
_PROBE = ["A short one.", "Order 1234 shipped yesterday and should arrive on Friday, the courier says.", "ok"]


def default_cache_root() -> Path:
    """$HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/harness, else ~/.cache/harness."""
    if os.environ.get("HARNESS_CACHE_DIR"):
        return Path(os.environ["HARNESS_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "harness"


def weights_digest(model: Any) -> str:
    """blake2b over the transformer's parameters and buffers, in name order: what the export depends on."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(_transformer(model).state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def exported_model(model: Any, backend: str, cache_root: Path) -> Path:
    """The ONNX file of `model`'s transformer for backend "onnx" (float32) or "onnx-int8", exported if missing."""
    key = f"{weights_digest(model)}-{RECIPE}"
    fp32 = _cached(cache_root / "onnx" / f"{key}-fp32", lambda tmp: _export(model, tmp), model, tolerance=1e-3)
    if backend == "onnx":
        return fp32
    return _cached(cache_root / "onnx" / f"{key}-int8", lambda tmp: _quantize(fp32, tmp), model, tolerance=0.05)


def _transformer(model: Any) -> Any:
    first = model[0]
    if not hasattr(first, "auto_model"):
        raise ConfigError(f"scoring.backend onnx needs a transformer-based model; its first module is {type(first).__name__}")
    return first.auto_model


def _cached(target: Path, build: Any, model: Any, *, tolerance: float) -> Path:
    """`target/model.onnx`, built into a temporary sibling, checked against torch, then renamed into place."""
    if (target / _FILE).is_file():
        return target / _FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp / _FILE)
        _check(tmp / _FILE, model, tolerance)
        try:
            tmp.rename(target)
        except OSError:  # another exporter got there first: theirs is as good as ours
            if not (target / _FILE).is_file():
                raise
    except OSError as exc:
        raise ConfigError(f"cannot write the ONNX model cache under {target.parent}: {exc}"
                          " (set scoring.cache_dir or HARNESS_CACHE_DIR to a writable directory)") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / _FILE


def _export(model: Any, path: Path) -> None:
    """torch's exporter into a sibling file, then the fused graph into `path`."""
    traced = path.with_name("traced.onnx")
    _trace(model, traced)
    _fuse(model, traced, path)
    traced.unlink()


def _trace(model: Any, path: Path) -> None:
    import torch

    features = _features(model, _PROBE[:2])
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]
    transformer = _transformer(model)
    attention = transformer.config._attn_implementation

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    transformer.set_attn_implementation("eager")  # the form the optimizer fuses (module docstring)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter: the result is checked below
            torch.onnx.export(LastHiddenState().eval(), tuple(features[n] for n in names), str(path),
                              input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                              opset_version=_OPSET, dynamo=False)
    finally:
        transformer.set_attn_implementation(attention)


def _fuse(model: Any, source: Path, path: Path) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    config = _transformer(model).config
    with _root_logging_kept(logging.ERROR):  # the optimizer logs every fusion it tries
        fused = optimize_model(str(source), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size)
    fused.save_model_to_file(str(path), use_external_data_format=False)


def _quantize(source: Path, path: Path) -> None:
    import onnx

    with _root_logging_kept():  # this module calls logging.basicConfig(level=INFO) when imported
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer, logger
    logger.setLevel(logging.WARNING)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=64, is_symmetric=True,
                                     accuracy_level=4, op_types_to_quantize=("MatMul",))
    quantizer.process()
    quantizer.model.save_model_to_file(str(path), use_external_data_format=False)


@contextlib.contextmanager
def _root_logging_kept(level: int | None = None) -> Iterator[None]:
    """The root logger's handlers and level back as they were after the block (`level` meanwhile):
    ONNX Runtime's tools log each step at INFO, and one configures logging when imported."""
    root = logging.getLogger()
    handlers, saved = list(root.handlers), root.level
    if level is not None:
        root.setLevel(level)
    try:
        yield
    finally:
        root.handlers[:], root.level = handlers, saved


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    return {k: v for k, v in model.preprocess(texts).items() if hasattr(v, "shape")}


def _check(path: Path, model: Any, tolerance: float) -> None:
    """Run the exported file on other shapes than it was traced with and compare with torch's hidden states."""
    import onnxruntime as ort
    import torch

    features = _features(model, _PROBE)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: features[i.name].numpy() for i in session.get_inputs()}
    got = session.run(None, feed)[0]
    with torch.no_grad():
        want = _transformer(model)(**{k: features[k] for k in feed}).last_hidden_state.numpy()
    mask = features["attention_mask"].numpy().astype(bool)
    error = float(np.max(np.abs(got[mask] - want[mask]))) / max(float(np.max(np.abs(want[mask]))), 1e-6)
    if error > tolerance:
        raise ConfigError(f"the ONNX export of the embedding model differs from torch by {error:.3g} (relative);"
                          " use scoring.backend = \"torch\"")
