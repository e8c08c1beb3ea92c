"""A real local Ray cluster for tests and benchmarks: a head and worker nodes on loopback, each a `ray start --block`.

The cluster lives on 127.0.0.2: Ray replaces the addresses "127.0.0.1" and "localhost" with the
machine's network address, but takes another loopback address as given, so every connection stays
on the loopback interface. Every node runs on ports picked free for it, under a temp dir of its
own, so a leftover cluster of an earlier run can neither be joined nor collide. A node is every
process that carries its marker in the environment: `ray start`, its raylet and agents, and the
raylet's worker processes (which Ray starts in sessions of their own, and which outlive their
parents for a moment). Nodes are stopped, or killed mid-job, by those process ids, and `stop()`
waits until every one is gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

__all__ = ["LocalRayCluster", "RayNode", "free_port"]

_RAY = str(Path(sys.executable).with_name("ray"))
_READY = "Ray runtime started"
_MARKER = "HARNESS_TEST_RAY_NODE"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RayNode:
    process: subprocess.Popen[bytes]
    log: Path
    marker: str
    """A value of HARNESS_TEST_RAY_NODE in the node's environment, which every process it starts inherits."""

    def commands(self) -> dict[int, str]:
        """pid -> command line of every live process of this node (ray start, raylet, agents, workers)."""
        return {pid: command for pid, (marker, command) in _processes().items() if marker == self.marker}

    def kill(self) -> None:
        """SIGKILL every process of the node until none is left (a raylet may start a worker meanwhile)."""

        def gone() -> bool:
            for pid in self.commands():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return not self.commands()

        _wait_until(gone, 30, f"processes of ray node {self.process.pid} outlived SIGKILL")
        self.process.wait(timeout=30)


class LocalRayCluster:
    """`with LocalRayCluster(workers=1) as cluster:` ... `cluster.address`, `cluster.workers[0].kill()`."""

    def __init__(self, workers: int = 1, cpus: int = 1, object_store_mb: int = 256) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ray-"))  # short: Ray's socket paths must stay under 108 chars
        self.cpus = cpus
        self.object_store_bytes = object_store_mb << 20
        self.n_workers = workers
        self.port = free_port()
        self.host = "127.0.0.2"
        self.address = f"{self.host}:{self.port}"
        self.head: RayNode | None = None
        self.workers: list[RayNode] = []

    def __enter__(self) -> Self:
        try:
            self.head = self._start("head", ["--head", f"--port={self.port}", "--include-dashboard=false",
                                             f"--dashboard-port={free_port()}", f"--ray-client-server-port={free_port()}"])
            self.workers = [self._start(f"worker{i}", [f"--address={self.address}"]) for i in range(self.n_workers)]
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, name: str, args: list[str]) -> RayNode:
        log = self.root / f"{name}.log"
        command = [_RAY, "start", *args, f"--node-ip-address={self.host}", f"--num-cpus={self.cpus}", "--num-gpus=0",
                   f"--object-store-memory={self.object_store_bytes}", f"--temp-dir={self.root}", "--block",
                   "--disable-usage-stats", f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
                   f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                   f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]  # fmt: skip
        marker = f"{os.getpid()}-{self.port}-{name}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {_MARKER: marker}
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        node = RayNode(process, log, marker)
        if name == "head":
            self.head = node
        _wait_until(lambda: _READY in log.read_text(errors="replace") or process.poll() is not None, 120,
                    f"ray node {name} did not start")
        if process.poll() is not None:
            raise RuntimeError(f"ray node {name} exited: {log.read_text(errors='replace')[-2000:]}")
        return node

    def stop(self) -> None:
        """Kill every node by its process group, wait for all of them, remove the temp dir."""
        for node in [*self.workers, *([self.head] if self.head else [])]:
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _processes() -> dict[int, tuple[str | None, str]]:
    """pid -> (its HARNESS_TEST_RAY_NODE, command line) of every live process, read from /proc."""
    found = {}
    prefix = _MARKER.encode() + b"="
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if state == "Z":
            continue  # a zombie is dead already; its parent reaps it
        marker = next((item[len(prefix) :].decode() for item in environ if item.startswith(prefix)), None)
        found[int(entry)] = (marker, command)
    return found


def _wait_until(predicate: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(message)
        time.sleep(0.1)
