"""The `emulate` policy: an OpenAI-compatible model invents a plausible result for a call from
the tool's definition (configured, or inferred from the recordings), its arguments and the
conversation. Emulated results are marked in tool_events (policy `emulate`) and counted in the
report; nothing is executed. The API key is read from the environment at call time and is
scrubbed from everything stored.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from harness.config.tools import EmulatorConfig
from harness.errors import ToolCallError
from harness.secrets import remember_secret, scrub

__all__ = ["Emulator"]

_SYSTEM = ("You stand in for a software tool during an offline replay of an AI agent. Reply with the tool's"
           " result only: one JSON value, plausible for the arguments and the conversation, consistent with the"
           " tool's description. No prose, no code fences.")
_CONVERSATION_CHARS = 4000
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class Emulator:
    """One chat-completions client for the run, opened on first use."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._client: Any = None

    async def result(self, definition: dict[str, Any], arguments: Any, messages: list[dict[str, Any]]) -> Any:
        """The invented result: the model's JSON, or its text when it is not JSON."""
        import openai

        client = self._open()
        prompt = {"tool": definition["name"], "description": definition.get("description"),
                  "parameters": definition.get("input_schema"), "arguments": arguments,
                  "conversation": _conversation(messages)}
        try:
            completion = await client.chat.completions.create(
                model=self.config.model, temperature=self.config.temperature,
                messages=[{"role": "system", "content": _SYSTEM},
                          {"role": "user", "content": json.dumps(prompt, ensure_ascii=False, default=str)}])
            text = completion.choices[0].message.content or ""
        except (openai.OpenAIError, AttributeError, IndexError, TypeError, ValueError) as exc:
            raise ToolCallError(scrub(f"the emulator could not answer for {definition['name']!r}:"
                                      f" {type(exc).__name__}: {exc}"[:500]) or "") from None
        text = _FENCE.sub("", text.strip())
        try:
            return json.loads(text)
        except ValueError:
            return text

    def _open(self) -> Any:
        if self._client is None:
            import openai

            key = "no-key"
            if self.config.api_key_env is not None:
                key = os.environ.get(self.config.api_key_env) or ""
                if not key:
                    raise ToolCallError(f"the tool emulator reads its API key from {self.config.api_key_env},"
                                        " which is not set")
                remember_secret(key)
            self._client = openai.AsyncOpenAI(base_url=self.config.base_url, api_key=key, max_retries=0,
                                              timeout=self.config.timeout_s)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _conversation(messages: list[dict[str, Any]]) -> str:
    """The conversation as plain text, the latest part when it is long."""
    lines = []
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if isinstance(content, str) and content:
            lines.append(f"{m.get('role', 'user')}: {content}")
    return "\n".join(lines)[-_CONVERSATION_CHARS:]
