"""The `command` agent running a real Python script as the agent process."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.agents.base import AgentContext, CallContext
from harness.agents.command import MAX_STDOUT_BYTES, CommandAgent, CommandAgentConfig
from harness.errors import AgentBadResponse, AgentFailure, ConfigError
from harness.records import AgentResult, Request, ToolCall, Usage

SCRIPT = """
import json, os, subprocess, sys, time

request = json.load(sys.stdin)
mode = request["input"]
if mode == "good":
    print(json.dumps({
        "output": "echo " + request["request_id"] + " " + request["metadata"]["intent"],
        "tool_calls": [{"name": "lookup", "arguments": {"id": 1}}],
        "usage": {"input_tokens": 3, "output_tokens": 2},
        "model": "script-1",
    }))
elif mode == "env":
    print(json.dumps({"output": os.environ["AGENT_TOKEN"] + " in " + os.getcwd()}))
elif mode == "fail":
    sys.stderr.write("noise\\n" * 2000 + "last words\\n")
    sys.exit(3)
elif mode == "garbage":
    print("loading model...")
elif mode == "shape":
    print(json.dumps({"output": 5}))
elif mode == "flood":
    sys.stdout.write("x" * (int(request["metadata"]["size"])))
elif mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open("pids", "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    time.sleep(60)
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "agent.py").write_text(SCRIPT)
    return tmp_path


def make_agent(base_dir: Path, **options: Any) -> CommandAgent:
    options.setdefault("command", [sys.executable, "agent.py"])
    return CommandAgent(CommandAgentConfig(kind="command", **options), AgentContext(base_dir=base_dir))


async def call_once(agent: CommandAgent, request: Request) -> AgentResult:
    await agent.start()
    try:
        return await agent.call(request, CallContext())
    finally:
        await agent.close()


def run(base_dir: Path, mode: str, metadata: dict[str, Any] | None = None, **options: Any) -> AgentResult:
    request = Request(request_id="r-7", input=mode, metadata=metadata or {"intent": "order_status"})
    return asyncio.run(call_once(make_agent(base_dir, **options), request))


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (an orphan may wait a moment for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_good_answer(workdir: Path) -> None:
    result = run(workdir, "good")
    assert result.output == "echo r-7 order_status"
    assert result.tool_calls == (ToolCall("lookup", {"id": 1}),)
    assert result.usage == Usage(input_tokens=3, output_tokens=2)
    assert result.model == "script-1"


def test_env_is_expanded_and_cwd_resolves_from_the_base_dir(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_TEST_AGENT_SECRET", "s3cret")
    (workdir / "sub").mkdir()
    (workdir / "sub" / "agent.py").write_text(SCRIPT)
    result = run(workdir, "env", cwd="sub", env={"AGENT_TOKEN": "token-${HARNESS_TEST_AGENT_SECRET}"})
    assert result.output == f"token-s3cret in {workdir / 'sub'}"


def test_relative_executable_resolves_from_the_base_dir(workdir: Path) -> None:
    wrapper = workdir / "agent.sh"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" agent.py\n')
    wrapper.chmod(0o755)
    assert run(workdir, "good", command=["./agent.sh"]).output == "echo r-7 order_status"


def test_missing_executable_is_a_config_error_at_start(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="no-such-agent-binary"):
        asyncio.run(make_agent(workdir, command=["no-such-agent-binary", "--serve"]).start())
    with pytest.raises(ConfigError, match="missing.sh"):
        asyncio.run(make_agent(workdir, command=["./missing.sh"]).start())


def test_missing_env_variable_is_a_config_error_at_start(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_TEST_UNSET", raising=False)
    with pytest.raises(ConfigError, match="HARNESS_TEST_UNSET"):
        asyncio.run(make_agent(workdir, env={"TOKEN": "${HARNESS_TEST_UNSET}"}).start())


def test_non_zero_exit_is_a_failure_with_the_stderr_tail(workdir: Path) -> None:
    with pytest.raises(AgentFailure) as info:
        run(workdir, "fail")
    message = str(info.value)
    assert message.startswith("command exited with code 3: ")
    assert message.endswith("last words")
    assert len(message) < 2_100


@pytest.mark.parametrize(("mode", "expected"), [("garbage", "not JSON"), ("shape", "output must be a string")])
def test_unusable_stdout_is_a_bad_response(workdir: Path, mode: str, expected: str) -> None:
    with pytest.raises(AgentBadResponse, match=expected):
        run(workdir, mode)


def test_stdout_over_the_cap_is_a_bad_response(workdir: Path) -> None:
    with pytest.raises(AgentBadResponse, match="more than"):
        run(workdir, "flood", metadata={"size": MAX_STDOUT_BYTES + 1})


def test_agent_that_ignores_stdin_still_answers(tmp_path: Path) -> None:
    (tmp_path / "quick.py").write_text('print(\'{"output": "did not read"}\')\n')
    big = {"blob": "y" * 1_000_000}
    result = run(tmp_path, "ignored", metadata=big, command=[sys.executable, "quick.py"])
    assert result.output == "did not read"


def test_cancelled_call_kills_the_process_and_its_children(workdir: Path) -> None:
    async def scenario() -> None:
        agent = make_agent(workdir)
        await agent.start()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(agent.call(Request(request_id="r-1", input="hang"), CallContext()), timeout=1.0)

    asyncio.run(scenario())
    agent_pid, child_pid = (int(pid) for pid in (workdir / "pids").read_text().split())
    assert not alive(agent_pid)
    deadline = time.monotonic() + 1.0
    while alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(child_pid)
