"""Secrets: with API keys in the environment and auth headers in agent configs, a replay, a scoring
with a judge and the report leave no secret value in the DuckDB file, any table, the command output
or the report, even when servers echo credentials back in their errors."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from harness.ingest import ingest
from harness.secrets import REDACTED
from harness.store import Store
from tests.conftest import simple_records, write_jsonl
from tests.judge_server import deterministic_judge_app
from tests.procs import run_harness
from tests.servers import serve

SECRETS = {
    "AGENT_TOKEN": "agent-token-5f1d0c9e77aa",
    "OPENAI_KEY": "sk-openai-3b2a1c0d9e8f7a6b",
    "JUDGE_KEY": "sk-judge-0a9b8c7d6e5f4a3b",
}
STATIC = "literal-static-secret-9c8b7a"  # a secret written into the config itself


def agent_app(seen: list[dict[str, str]]) -> web.Application:
    """An http agent that answers, except every 7th request: 401 echoing the credentials it got."""

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        body = await request.json()
        if int(body["request_id"].lstrip("r")) % 7 == 0:
            return web.Response(status=401, text=f"bad credentials: {request.headers.get('Authorization')}"
                                                 f" / {request.headers.get('X-Static-Key')}")
        return web.json_response({"output": f"answer to {body['input']}", "model": "gpt-4.1",
                                  "usage": {"input_tokens": 100, "output_tokens": 10}})

    app = web.Application()
    app.router.add_post("/agent", handle)
    return app


def openai_app(seen: list[str]) -> web.Application:
    """An OpenAI-compatible candidate; every 5th request fails with the key echoed in the error."""

    async def handle(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        seen.append(auth)
        body = await request.json()
        text = body["messages"][-1]["content"]
        if text.endswith("5") or text.endswith("0"):
            return web.json_response({"error": {"message": f"Incorrect API key provided: {auth}",
                                                "type": "invalid_request_error"}}, status=401)
        return web.json_response({
            "id": "c", "object": "chat.completion", "created": 0, "model": "gpt-4.1-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f"re: {text}"}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55}})  # fmt: skip

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    return app


def test_no_secret_reaches_the_store_the_output_or_the_report(tmp_path: Path) -> None:
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", simple_records(60))], "d", progress=False)
    agent_seen: list[dict[str, str]] = []
    openai_seen: list[str] = []
    judge_seen: list[str] = []
    with serve(agent_app(agent_seen)) as agent, serve(openai_app(openai_seen)) as openai, \
            serve(deterministic_judge_app(judge_seen)) as judge:
        config = tmp_path / "harness.toml"
        config.write_text(f"""
[replay]
dataset = "d"
concurrency = 8
max_attempts = 1

[agents.prod]
kind = "http"
url = "{agent}/agent"
headers = {{ Authorization = "Bearer ${{AGENT_TOKEN}}", X-Static-Key = "{STATIC}" }}

[agents.candidate]
kind = "openai"
base_url = "{openai}/v1"
model = "gpt-4.1-mini"
api_key_env = "OPENAI_KEY"

[scoring]

[judge]
base_url = "{judge}/v1"
model = "gpt-4.1-mini"
api_key_env = "JUDGE_KEY"

[release]
name = "secrets check"
""", encoding="utf-8")
        run = run_harness("run", "--config", str(config), "--db", str(store.path), timeout=600, cwd=tmp_path,
                          **SECRETS)
        assert run.returncode in (0, 3, 4), run.stdout + run.stderr
        run_id = store.runs()["run_id"][0]
        report = tmp_path / "report.html"
        rendered = run_harness("report", run_id, "-o", str(report), "--db", str(store.path), **SECRETS)
        assert rendered.returncode == 0, rendered.stderr

    # the secrets were really used: every server got them
    assert {h.get("Authorization") for h in agent_seen} == {f"Bearer {SECRETS['AGENT_TOKEN']}"}
    assert {h.get("X-Static-Key") for h in agent_seen} == {STATIC}
    assert set(openai_seen) == {f"Bearer {SECRETS['OPENAI_KEY']}"}
    assert set(judge_seen) == {f"Bearer {SECRETS['JUDGE_KEY']}"}
    errors = store.sql("SELECT count(*) AS n FROM responses WHERE error_type IS NOT NULL")["n"][0]
    assert errors > 0  # the echoing errors happened and were recorded

    # and they are nowhere we keep anything
    tables = store.sql("SELECT table_name FROM information_schema.tables")["table_name"].to_list()
    haystacks = {
        "stdout/stderr of harness run": run.stdout + run.stderr,
        "stdout/stderr of harness report": rendered.stdout + rendered.stderr,
        "the report": report.read_text(encoding="utf-8"),
        **{f"table {t}": json.dumps(store.sql(f'SELECT * FROM "{t}"').to_dicts(), default=str) for t in tables},
        **{f"file {p.name}": p.read_bytes().decode("latin-1") for p in tmp_path.glob("h.duckdb*")},
    }
    for value in [*SECRETS.values(), STATIC]:
        for where, text in haystacks.items():
            assert value not in text, f"{value} found in {where}"

    # the config snapshot keeps the ${VAR} reference and redacts the literal
    headers = store.run(run_id)["config"]["agents"]["prod"]["headers"]
    assert headers == {"Authorization": "Bearer ${AGENT_TOKEN}", "X-Static-Key": REDACTED}
    assert json.loads(json.dumps(store.run(run_id)["config"]))["judge"]["api_key_env"] == "JUDGE_KEY"


PIECES = {"AGENT_TOKEN": "tok-4d3c2b1a0f9e8d7c6b5a", "OPENAI_KEY": "sk-proj-77aa66bb55cc44dd33ee",
          "CMD_TOKEN": "cmd-tok-9f3kq7zv2xw8m4ph"}
QUERY_SECRET = "qs-literal-7Hq2Lz9Wv4Rn"


def echo_app() -> web.Application:
    """Agents that leak credentials in pieces: bare, without their prefix, half of them, in the URL."""

    async def agent(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = await request.json()
        n = int(body["request_id"].lstrip("r"))
        if n % 3 == 0:
            return web.Response(status=401, text=f"invalid api key {token}")
        if n % 3 == 1:
            return web.json_response({"output": f"debug: url={request.url} half={token[len(token) // 2:]}"})
        return web.json_response({"output": "fine"})

    async def chat(request: web.Request) -> web.Response:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ").removeprefix("sk-proj-")
        return web.json_response({"error": {"message": f"Incorrect API key provided: {key}"}}, status=401)

    app = web.Application()
    app.router.add_post("/agent", agent)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def test_pieces_of_secrets_from_every_agent_kind_are_scrubbed(tmp_path: Path) -> None:
    store = Store(tmp_path / "h.duckdb")
    ingest(store, [write_jsonl(tmp_path / "log.jsonl", simple_records(18))], "d", progress=False)
    leaky = tmp_path / "leaky.py"
    leaky.write_text("import os, sys\nsys.stdin.read()\nprint('token is', os.environ['TOKEN'], file=sys.stderr)\n"
                     "sys.exit(1)\n", encoding="utf-8")
    with serve(echo_app()) as base:
        config = tmp_path / "harness.toml"
        config.write_text(f"""
[replay]
dataset = "d"
max_attempts = 1
[agents.prod]
kind = "http"
url = "{base}/agent?api_key={QUERY_SECRET}&mode=x"
headers = {{ Authorization = "Bearer ${{AGENT_TOKEN}}" }}
[agents.prod_repeat]
kind = "command"
command = ["python", "{leaky}"]
env = {{ TOKEN = "${{CMD_TOKEN}}" }}
[agents.candidate]
kind = "openai"
base_url = "{base}/v1"
model = "gpt-4.1-mini"
api_key_env = "OPENAI_KEY"
""", encoding="utf-8")
        run = run_harness("replay", "--config", str(config), "--db", str(store.path), timeout=300, **PIECES)
        assert run.returncode == 0, run.stdout + run.stderr
        run_id = store.runs()["run_id"][0]
        report = tmp_path / "report.html"
        rendered = run_harness("report", run_id, "-o", str(report), "--db", str(store.path), **PIECES)
        assert rendered.returncode == 0, rendered.stderr
    messages = store.responses(run_id)["error_message"].drop_nulls().to_list()
    assert any("invalid api key" in m for m in messages) and any("token is" in m for m in messages)
    dump = json.dumps(store.responses(run_id).to_dicts(), default=str) + run.stdout + run.stderr \
        + report.read_text(encoding="utf-8") + (tmp_path / "h.duckdb").read_bytes().decode("latin-1")
    for secret in [*PIECES.values(), QUERY_SECRET]:
        pieces = {secret[i:i + 8] for i in range(len(secret) - 7)}
        leaked = sorted(p for p in pieces if p in dump)
        assert not leaked, f"pieces of {secret} leaked: {leaked}"
