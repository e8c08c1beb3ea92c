"""Where the embedding model runs: "cpu", "cuda[:N]" or "auto", and a batch size that suits it.

Set-up installs a CPU build of torch; a GPU needs a CUDA build installed instead (README). Asking
for "cuda" where torch sees no GPU is a ConfigError that says why, not a crash deep in torch.
"""

from __future__ import annotations

from harness.errors import ConfigError

__all__ = ["CPU_BATCH_SIZE", "batch_size_for", "gpu_batch_size", "resolve_device"]

CPU_BATCH_SIZE = 64
_GIB = 1 << 30


def resolve_device(device: str) -> str:
    """The torch device for a configured one: "auto" becomes "cuda" when a GPU is visible, else "cpu"."""
    import torch

    if device == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise ConfigError(
            f"scoring.device = {device!r}, but torch sees no CUDA GPU (torch {torch.__version__} is {build});"
            ' use device = "auto" or "cpu", or install a CUDA build of torch (see the README)'
        )
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(f"scoring.device = {device!r}, but torch sees {torch.cuda.device_count()} GPU(s)")
    return device


def gpu_batch_size(free_bytes: int) -> int:
    """Texts per forward pass on a GPU with `free_bytes` of free memory: 512 from 16 GiB, 256 from 8, else 128.

    A MiniLM-sized model needs well under 10 MB per 256-token text, so these leave ample headroom
    for larger sentence-transformers while keeping a GPU busy; `batch_size` in the config overrides it.
    """
    if free_bytes >= 16 * _GIB:
        return 512
    if free_bytes >= 8 * _GIB:
        return 256
    return 128


def batch_size_for(device: str, configured: int | None) -> int:
    """The configured batch size, else one chosen for the (resolved) device."""
    if configured is not None:
        return configured
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return gpu_batch_size(free)
    return CPU_BATCH_SIZE
