"""The `command` agent: run a subprocess per request, JSON request on stdin, JSON result on stdout.

The answer is complete when stdout closes, or, once the agent has exited, as soon as what it
wrote is one whole JSON document (a grandchild it left behind may hold stdout open forever).
Every call ends by killing the agent's process group, so nothing it started outlives the
call; a cancelled call (timeout, budget, Ctrl-C) kills it and reaps it before re-raising.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import signal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from harness.agents.base import Agent, AgentContext, AgentSettings, CallContext
from harness.errors import AgentBadResponse, AgentFailure, AgentUnavailable, ConfigError
from harness.records import AgentResult, Request
from harness.secrets import expand_env

__all__ = ["AGENT", "CommandAgent", "CommandAgentConfig"]


class CommandAgentConfig(AgentSettings):
    kind: Literal["command"]
    command: list[str] = Field(min_length=1)
    """argv; the request arrives as JSON on stdin, the result is read as JSON from stdout."""
    env: dict[str, str] = {}
    cwd: str | None = None

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

MAX_STDOUT_BYTES = 10_000_000
STDERR_TAIL_BYTES = 2_000
_READ_CHUNK = 65_536


class CommandAgent(Agent):
    """Runs `config.command` once per request; the canonical result shape is read from stdout."""

    kind = "command"
    config_model = CommandAgentConfig

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

    async def call(self, request: Request, context: CallContext) -> AgentResult:
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
                env=_with_tools(self._env, context),
                start_new_session=True,
            )
        except OSError as exc:
            raise AgentUnavailable(f"cannot start {self._config.command[0]!r}: {exc}") from exc
        feeder = asyncio.create_task(_feed(process, payload))
        tail = _Tail(STDERR_TAIL_BYTES)
        stderr = asyncio.create_task(tail.drain(process.stderr))
        stdout = _Stdout(MAX_STDOUT_BYTES)
        try:
            code = await stdout.read_until_answered(process)
        finally:
            await _kill(process)
            for task in (feeder, stderr):
                task.cancel()
            await asyncio.gather(feeder, stderr, return_exceptions=True)
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            detail = tail.data.decode("utf-8", "replace").strip()
            raise AgentFailure(f"command {how}" + (f": {detail}" if detail else ""))
        return AgentResult.from_mapping(_parse(bytes(stdout.data)))


def _with_tools(env: dict[str, str], context: CallContext) -> dict[str, str]:
    """The replay's tool sandbox for this call: HARNESS_TOOLS_URL, HARNESS_REQUEST_KEY (and HARNESS_MCP_URL)."""
    if context.tools_url is None or context.request_key is None:
        return env
    extra = {"HARNESS_TOOLS_URL": context.tools_url, "HARNESS_REQUEST_KEY": context.request_key}
    if context.mcp_url is not None:
        extra["HARNESS_MCP_URL"] = context.mcp_url
    return {**env, **extra}


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


class _Stdout:
    """The agent's stdout, refusing more than `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.closed = False

    async def read_until_answered(self, process: asyncio.subprocess.Process) -> int:
        """Read until stdout closes, or until the agent has exited and its output parses as one
        JSON document; returns the exit code (the agent's own, never a descendant's)."""
        assert process.stdout is not None
        exited = asyncio.create_task(process.wait())
        try:
            while True:
                chunk = asyncio.ensure_future(process.stdout.read(_READ_CHUNK))
                await asyncio.wait({chunk, exited}, return_when=asyncio.FIRST_COMPLETED)
                if not chunk.done():
                    if self._complete():
                        chunk.cancel()
                        return exited.result()
                    await chunk  # exited, output not whole yet: keep reading (the call's timeout still holds)
                data = chunk.result()
                if not data:
                    return await exited
                self.data += data
                if len(self.data) > self.limit:
                    raise AgentBadResponse(f"command wrote more than {self.limit} bytes to stdout")
                if exited.done() and self._complete():
                    return exited.result()
        finally:
            exited.cancel()

    def _complete(self) -> bool:
        try:
            json.loads(self.data.decode("utf-8"))
        except ValueError:
            return False
        return True


class _Tail:
    """The last `keep` bytes of stderr, draining the rest so the agent never blocks on a full pipe."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.data = b""

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        while chunk := await stream.read(_READ_CHUNK):
            self.data = (self.data + chunk)[-self.keep:]


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the agent's process group (its children and grandchildren too) and reap the agent."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
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


AGENT = CommandAgent
