"""Config: validation errors name the file and the dotted key; profiles overlay the base."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.agents.http import HttpAgentConfig
from harness.agents.openai_chat import OpenAIAgentConfig
from harness.config import load_config
from harness.errors import ConfigError
from harness.secrets import REDACTED, redact

BASE = """
[replay]
dataset = "d"
concurrency = 8

[agents.prod]
kind = "python"
callable = "mod:fn"

[agents.candidate]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4.1-mini"

[prices."my-model"]
input = 1.0
output = 2.0

[profiles.dev.replay]
concurrency = 2
budget_usd = 1.5

[profiles.dev.agents.candidate]
model = "gpt-4.1-nano"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "harness.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_and_profile_overlay(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    config = load_config(path)
    assert config.replay.concurrency == 8 and config.replay.budget_usd is None
    assert isinstance(config.agents["candidate"], OpenAIAgentConfig)
    assert config.agent_for("prod_repeat") is config.agents["prod"]
    dev = load_config(path, profile="dev")
    assert dev.replay.concurrency == 2 and dev.replay.budget_usd == 1.5
    assert dev.agents["candidate"].model == "gpt-4.1-nano"
    assert dev.agents["candidate"].base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("[replay]\nconcurency = 3\n", r"harness.toml: replay.concurency: unknown key"),
        ("[replay]\nconcurrency = 'lots'\n", r"replay.concurrency: Input should be a valid integer"),
        ("[replay]\nrepeats = 0\n", r"replay.repeats: Input should be greater than or equal to 1"),
        ("[agents.prod]\nkind = 'python'\ncallable = 'x:y'\ntimeout = 3\n", r"agents.prod.timeout: unknown key"),
        ("[agents.prod]\nkind = 'carrier-pigeon'\n", r"agents.prod: Input tag 'carrier-pigeon'"),
        ("[agents.prod]\nkind = 'http'\n", r"agents.prod.url: Field required"),
        ("[agents.canary]\nkind = 'python'\ncallable = 'x:y'\n", r"unknown arm 'canary'"),
        ("[scoring2]\n", r"scoring2: unknown key"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, snippet: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, snippet))


def test_profile_errors_name_the_profile(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "\n[profiles.staging.replay]\ntimeout_sec = 3\n")
    with pytest.raises(ConfigError, match=r"profiles.staging.replay.timeout_sec: unknown key"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"profile 'prod' is not defined \(profiles: dev\)"):
        load_config(write(tmp_path, BASE), profile="prod")


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[replay\nx = 1"))


def test_config_snapshots_redact_secrets_but_keep_references() -> None:
    agent = HttpAgentConfig(kind="http", url="http://x/", headers={
        "Authorization": "Bearer ${AGENT_TOKEN}", "X-Api-Key": "sk-live-123", "Accept": "application/json"})
    snapshot = redact(agent.model_dump(mode="json"))
    assert snapshot["headers"]["Authorization"] == "Bearer ${AGENT_TOKEN}"
    assert snapshot["headers"]["X-Api-Key"] == REDACTED
    assert snapshot["headers"]["Accept"] == "application/json"
    assert redact({"api_key_env": "OPENAI_API_KEY", "api_key": "sk-1"}) == {
        "api_key_env": "OPENAI_API_KEY", "api_key": REDACTED}


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    path = sub / "harness.toml"
    path.write_text('db = "data/h.duckdb"\n[agents.prod]\nkind = "command"\ncommand = "python agent.py"\ncwd = "agents"\n'
                    '[judge]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\ntemplates_dir = "/abs/templates"\n')
    config = load_config(path)
    assert config.base_dir == sub.resolve()
    assert config.db == str(sub.resolve() / "data/h.duckdb")
    assert config.agents["prod"].cwd == str(sub.resolve() / "agents")
    assert config.judge is not None and config.judge.templates_dir == "/abs/templates"


def test_the_registry_holds_the_built_in_agent_kinds_in_order() -> None:
    """What an error about a missing kind lists: every module of harness.agents that exports AGENT."""
    from harness.agents import AGENT_KINDS

    assert {"captured", "command", "http", "openai", "python"} <= set(AGENT_KINDS)
    assert list(AGENT_KINDS) == sorted(AGENT_KINDS)
