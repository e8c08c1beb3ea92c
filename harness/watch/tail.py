"""Tail a directory of logs: what each file has gained since the last look, in whole lines.

A file is known by its device and inode, its byte offset and its first bytes. A file whose
path now holds another inode was rotated; one shorter than what was read, or whose first bytes
changed, was truncated or rewritten: both are reported and read again from the start (the
records are keyed by request and arm, so a line read again is never counted twice). A partial
last line waits for its newline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Chunk", "Tailer", "HEAD_BYTES"]

#: Bytes at the start of a file kept to notice a rewrite that kept the inode and grew past the offset.
HEAD_BYTES = 64
#: Most bytes read from one file per look (the rest waits for the next look).
MAX_READ = 64 * 1024 * 1024


@dataclass
class Chunk:
    """New whole lines of one file, and what happened to the file since the last look."""

    path: str
    data: bytes
    event: str | None = None
    """None, "new", "rotated" or "truncated"."""
    detail: str = ""


@dataclass
class Tailer:
    """What has been read of each file under `root`; `poll()` returns what is new."""

    root: Path
    state: dict[str, dict[str, Any]] = field(default_factory=dict)

    def files(self) -> list[Path]:
        """Regular, visible files under root (not gzipped: a growing .gz cannot be tailed), by name."""
        return sorted(p for p in self.root.rglob("*")
                      if p.is_file() and not p.name.startswith(".") and p.suffix != ".gz")

    def poll(self) -> list[Chunk]:
        chunks = []
        for path in self.files():
            chunk = self._read(path)
            if chunk is not None:
                chunks.append(chunk)
        return chunks

    def _read(self, path: Path) -> Chunk | None:
        key = str(path)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                file_id = f"{st.st_dev}:{st.st_ino}"
                head = f.read(HEAD_BYTES)
                known = self.state.get(key)
                offset, detail = 0, ""
                event: str | None = "new"
                if known is not None:
                    offset, event = int(known["offset"]), None
                    if known["file_id"] != file_id:
                        offset, event, detail = 0, "rotated", "the path now holds another file"
                    elif st.st_size < offset:
                        event, detail = "truncated", f"{st.st_size:,} bytes, {offset:,} were read before"
                        offset = 0
                    elif not _same_start(bytes.fromhex(known["head"] or ""), head):
                        offset, event, detail = 0, "truncated", "its first bytes changed: rewritten in place"
                f.seek(offset)
                data = f.read(MAX_READ)
        except OSError as exc:
            return Chunk(key, b"", "unreadable", exc.strerror or str(exc))
        whole = data[: data.rfind(b"\n") + 1]
        self.state[key] = {"path": key, "file_id": file_id, "offset": offset + len(whole), "head": head.hex()}
        if not whole and event is None:
            return None
        return Chunk(key, whole, event, detail)


def _same_start(before: bytes, now: bytes) -> bool:
    common = min(len(before), len(now))
    return before[:common] == now[:common]
