"""The OpenAI Batch API (and vLLM's run_batch): input files joined with their output files by custom_id.

Chat completions lines and Responses API lines (`/v1/responses`: `body.instructions` and
`body.input`, a string or messages; the answer a `response` object) are read. vLLM writes the
completion itself as `response` (no `status_code` / `body`). An output file given without any
input file is an error that says the requests are in the input file.

An input line is `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {model,
messages, ...}}`; an output or error line is `{"id": "batch_req_...", "custom_id", "response":
{"status_code", "request_id", "body": {a chat.completion}}, "error": null | {"code", "message"}}`.
Both reader classes share the group `openai_batch`, so the files given together are read
together and every line is recognised by its shape. Each input line becomes one canonical record:

- request_id: the custom_id; input: `{"messages": body.messages}`; user_id: `body.user`;
  metadata: `body.metadata`; timestamp: the completion's `created` (when there is an output)
- captured: the output line's chat completion (see openai_chat), or its error when `error` is set
  or the status code is 400 or more (type from the error's type or code, and its message);
  the Batch API does not report latency, so it stays missing.

An input line without an output line is a request without a captured answer; an output line
without an input line is malformed; a custom_id repeated across input lines is reported by
ingest's duplicate check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.canonical import Malformed
from harness.capture.base import RawBatch
from harness.capture.documents import iter_documents
from harness.capture.openai_chat import api_error, completion_captured, other_choices, response_captured
from harness.capture.values import (
    Item,
    batches,
    count,
    first,
    identifier,
    malformed,
    mapping,
    merged_variants,
    timestamp,
    variant_value,
)
from harness.errors import IngestError

__all__ = ["OpenAIBatchInputReader", "OpenAIBatchOutputReader"]

Located = tuple[str, int, dict[str, Any]]
"""A line's document with its file and line."""


class _OpenAIBatchReader:
    """The group of Batch API files: input lines joined with output and error lines."""

    group = "openai_batch"
    variant_from: str | None = None
    """Where each request's captured variant is: a key of `body.metadata`, or `model`."""

    def read_group(self, paths: list[Path], hashers: dict[Path, Any], seq_start: int) -> Iterator[RawBatch]:
        """Inputs in file order with their outputs joined in, then the outputs left without input."""
        lines: list[Located | Malformed] = []
        outputs: dict[str | None, Located] = {}
        for path in paths:
            for item in _lines(path, hashers[path]):
                if isinstance(item, Malformed) or _is_input(item[2]):
                    lines.append(item)
                    continue
                custom_id = identifier(item[2].get("custom_id"))
                if custom_id in outputs:
                    earlier = outputs[custom_id]
                    lines.append(malformed(item[0], item[1], f"a second output line for custom_id {custom_id!r}"
                                           f" (the first is {earlier[0]}:{earlier[1]})", item[2]))
                else:
                    outputs[custom_id] = item
        if outputs and not any(not isinstance(item, Malformed) for item in lines):
            files = ", ".join(str(p) for p in paths)
            raise IngestError(
                f"{files}: OpenAI Batch output lines ({len(outputs):,}) without the input file: the output holds "
                "only the answers, the requests are in the input file uploaded with the batch; give both files "
                "together (harness ingest input.jsonl output.jsonl ...)")
        items = [item if isinstance(item, Malformed) else _joined(item, outputs, self.variant_from) for item in lines]
        items += [malformed(s, n, f"no input line for custom_id {identifier(d.get('custom_id'))!r}", d)
                  for s, n, d in outputs.values()]  # what no input took, in file order
        return batches(merged_variants(items) if self.variant_from else items, seq_start)


class OpenAIBatchInputReader(_OpenAIBatchReader):
    """Sniffs a Batch API input file (requests)."""

    name = "openai_batch_input"

    @staticmethod
    def matches(document: Any) -> bool:
        """A line with a custom_id and a request body."""
        return isinstance(document, dict) and _is_input(document)


class OpenAIBatchOutputReader(_OpenAIBatchReader):
    """Sniffs a Batch API output or error file (responses)."""

    name = "openai_batch_output"

    @staticmethod
    def matches(document: Any) -> bool:
        """A line with a custom_id and a response or an error."""
        return isinstance(document, dict) and _is_output(document)


def _is_input(document: dict[str, Any]) -> bool:
    """An input line: a custom_id and a request body (chat completions or responses)."""
    return "custom_id" in document and isinstance(document.get("body"), dict) and "response" not in document


def _is_output(document: dict[str, Any]) -> bool:
    """An output or error line: a custom_id and a response or an error."""
    return "custom_id" in document and ("response" in document or "error" in document) and "body" not in document


def _lines(path: Path, hasher: Any) -> Iterator[Located | Malformed]:
    """Every line of one file: an input or output line, or why it is neither."""
    source = str(path)
    for line, document, error in iter_documents(path, hasher):
        if error is not None:
            yield Malformed(source, line, error)
        elif isinstance(document, dict) and (_is_input(document) or _is_output(document)):
            yield source, line, document
        else:
            yield malformed(source, line, "not an OpenAI Batch line (custom_id with a body, or with a response"
                            " or an error)", document)


def _joined(line: Located, outputs: dict[str | None, Located], variant_from: str | None) -> Item:
    """The canonical record of an input line, with its output line (taken from `outputs`) as captured."""
    source, number, document = line
    body = document["body"]
    messages = _messages(body)
    if not messages:
        return malformed(source, number, "body.messages (chat completions) or body.input (responses) is missing or"
                         f" holds no message (url {document.get('url')!r})", document)
    custom_id = identifier(document.get("custom_id"))
    output = outputs.pop(custom_id, None) if custom_id is not None else None
    record: dict[str, Any] = {
        "request_id": custom_id,
        "user_id": identifier(body.get("user")),
        "input": {"messages": messages},
        "metadata": mapping(body.get("metadata")) or None,
    }
    if output is not None:
        response = mapping(output[2].get("response"))
        # vLLM's run_batch writes the completion itself as `response`; OpenAI wraps it in a body
        answer = response if "body" not in response and "status_code" not in response else mapping(response.get("body"))
        record["timestamp"] = timestamp(first(answer.get("created"), answer.get("created_at")))
        record["captured"] = _captured(output[2], response, answer, body.get("model"))
        if other := other_choices(answer):
            record["metadata"] = {**(record["metadata"] or {}), **other}
        if variant_from is not None:
            found = {**mapping(body.get("metadata")), "model": body.get("model")}
            record["captured"]["variant"] = variant_value(found, variant_from)
    return source, number, record


def _messages(body: dict[str, Any]) -> list[Any]:
    """The conversation of a request body: chat completions' `messages`, or the Responses API's
    `instructions` and `input` (a string, or a list of messages)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        return messages
    given = body.get("input")
    turns = [{"role": "user", "content": given}] if isinstance(given, str) and given else given
    if not isinstance(turns, list) or not turns:
        return []
    instructions = body.get("instructions")
    return ([{"role": "system", "content": instructions}] if isinstance(instructions, str) and instructions else []) \
        + [_response_input(turn) for turn in turns]


def _response_input(turn: Any) -> Any:
    """A Responses API input message in chat form: `input_text` parts become the content."""
    if not isinstance(turn, dict) or not isinstance(turn.get("content"), list):
        return turn
    texts = [str(p.get("text")) for p in turn["content"] if isinstance(p, dict) and p.get("text") is not None]
    return {**turn, "content": "".join(texts)}


def _captured(line: dict[str, Any], response: dict[str, Any], answer: dict[str, Any],
              request_model: str | None) -> dict[str, Any]:
    """The answer of an output line: its chat completion or Responses API response, or the error it reports."""
    status = count(response.get("status_code"))
    is_response = answer.get("object") == "response"
    stated = first(line.get("error"), None if is_response else answer.get("error"))
    if stated is None and ((status or 0) >= 400 or ("choices" not in answer and not is_response)):
        stated = f"HTTP status {status}" if status is not None else "the output line holds no chat completion"
    error = api_error(stated, status)
    if error is not None:
        return {"variant": "prod", "output": None, "model": answer.get("model") or request_model, "error": error}
    return response_captured(answer, request_model) if is_response else completion_captured(answer, request_model)


READERS: list[type] = [OpenAIBatchInputReader, OpenAIBatchOutputReader]
