"""The `command` agent: run a subprocess per request, JSON request on stdin, JSON result on stdout.

A cancelled call (timeout, budget, Ctrl-C) kills the process group and reaps it before
re-raising, so no agent process outlives its call.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from pathlib import Path

from harness.agents.base import Agent, AgentContext
from harness.config import CommandAgentConfig
from harness.errors import AgentBadResponse, AgentFailure, ConfigError
from harness.records import AgentResult, Request
from harness.secrets import expand_env

__all__ = ["CommandAgent"]

MAX_STDOUT_BYTES = 10_000_000
STDERR_TAIL_BYTES = 2_000
_READ_CHUNK = 65_536


class CommandAgent(Agent):
    """Runs `config.command` once per request; the canonical result shape is read from stdout."""

    kind = "command"

    def __init__(self, config: CommandAgentConfig, context: AgentContext) -> None:
        super().__init__(model=config.model)
        self._config = config
        self._cwd = context.base_dir / config.cwd if config.cwd else context.base_dir
        self._argv: list[str] = []
        self._env: dict[str, str] = {}

    async def start(self) -> None:
        """Expand `${VAR}` in `env` (memory only) and find the executable, so typos fail before replay."""
        if not self._cwd.is_dir():
            raise ConfigError(f"command agent: cwd {str(self._cwd)!r} is not a directory")
        extra = {name: expand_env(value, f"env {name!r} of the command agent") for name, value in self._config.env.items()}
        self._env = {**os.environ, **extra}
        program = self._config.command[0]
        if os.sep in program or (os.altsep and os.altsep in program):
            candidate = self._cwd / program
            found = str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
        else:
            found = shutil.which(program, path=self._env.get("PATH"))
        if found is None:
            raise ConfigError(f"command agent: executable {program!r} not found (cwd {str(self._cwd)!r})")
        self._argv = [str(Path(found).absolute()), *self._config.command[1:]]

    async def call(self, request: Request) -> AgentResult:
        """Run the command once; a non-zero exit is an AgentFailure, unusable stdout an AgentBadResponse."""
        if not self._argv:
            raise RuntimeError("CommandAgent.call() before start()")
        payload = json.dumps(request.to_dict()).encode()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self._cwd,
                env=self._env,
                start_new_session=True,
            )
        except OSError as exc:
            raise AgentFailure(f"cannot start {self._config.command[0]!r}: {exc}") from exc
        feeder = asyncio.create_task(_feed(process, payload))
        stderr = asyncio.create_task(_tail(process.stderr, STDERR_TAIL_BYTES))
        try:
            stdout = await _read_capped(process.stdout, MAX_STDOUT_BYTES)
            code = await process.wait()
            tail = await stderr
        except BaseException:
            await _kill(process)
            raise
        finally:
            for task in (feeder, stderr):
                task.cancel()
            await asyncio.gather(feeder, stderr, return_exceptions=True)
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            detail = tail.decode("utf-8", "replace").strip()
            raise AgentFailure(f"command {how}" + (f": {detail}" if detail else ""))
        return AgentResult.from_mapping(_parse(stdout))


async def _feed(process: asyncio.subprocess.Process, payload: bytes) -> None:
    """Write the request and close stdin; an agent that exits without reading it is judged by its exit code."""
    assert process.stdin is not None
    try:
        process.stdin.write(payload)
        await process.stdin.drain()
        process.stdin.close()
        await process.stdin.wait_closed()
    except (BrokenPipeError, ConnectionResetError):
        pass


async def _read_capped(stream: asyncio.StreamReader | None, limit: int) -> bytes:
    """All of stdout, refusing more than `limit` bytes."""
    assert stream is not None
    chunks: list[bytes] = []
    size = 0
    while chunk := await stream.read(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise AgentBadResponse(f"command wrote more than {limit} bytes to stdout")
        chunks.append(chunk)
    return b"".join(chunks)


async def _tail(stream: asyncio.StreamReader | None, keep: int) -> bytes:
    """The last `keep` bytes of stderr, draining the rest so the agent never blocks on a full pipe."""
    assert stream is not None
    tail = b""
    while chunk := await stream.read(_READ_CHUNK):
        tail = (tail + chunk)[-keep:]
    return tail


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the agent's process group (its own children too) and reap it."""
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    await process.wait()


def _parse(stdout: bytes) -> object:
    """stdout as one JSON document in strict UTF-8."""
    try:
        return json.loads(stdout.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AgentBadResponse(f"command stdout is not valid UTF-8 at byte {exc.start}") from None
    except ValueError as exc:
        start = stdout[:80].decode("utf-8", "replace")
        raise AgentBadResponse(f"command stdout is not JSON ({exc}): {start!r}") from None
