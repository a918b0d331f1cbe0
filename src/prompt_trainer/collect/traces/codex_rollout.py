"""Codex CLI rollouts (``~/.codex/sessions/.../rollout-*.jsonl``): ``{timestamp, type, payload}``.

``token_count`` events hold the conversation's *cumulative* usage, and newer CLIs repeat the
previous total: totals are never summed. A turn is counted each time the total changes. When the
total drops (the counter restarted, as when a rollout continues with a fresh conversation), the
segment before it is closed: the session's usage is the sum of each segment's last total.

Tool calls are ``function_call`` and ``custom_tool_call`` items (and ``web_search_call``). A
call's output is an error when its exit code is non-zero or it reports a denial: CLI 0.40 wraps
it as JSON ``{"output", "metadata": {"exit_code"}}``, later ones print ``Exit code: N`` or
``Process exited with code N`` in a preamble, 2026 rollouts may write a list of content items
(code mode's ``exec`` puts the code in a last block of its own), and sandbox denials and user
refusals are plain text. The rules and their sources are in ``docs/traces.md``. Unknown record
and payload types are counted and skipped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prompt_trainer.collect.traces._builder import Head, TraceBuilder, as_int, text_of
from prompt_trainer.collect.traces._reader import json_records
from prompt_trainer.models import Trace

NAME = "codex-rollout"
RECORD_TYPES = frozenset(
    {"session_meta", "turn_context", "response_item", "event_msg", "compacted"}
)
QUIET_EVENTS = frozenset(
    {
        "agent_message",
        "agent_reasoning",
        "user_message",
        "task_started",
        "context_compacted",
        "agent_reasoning_section_break",
        "exec_command_begin",
        "exec_command_end",
        "patch_apply_begin",
        "patch_apply_end",
        "turn_diff",
        "mcp_tool_call_begin",
        "mcp_tool_call_end",
    }
)
#: ``Exit code: N`` (the shell tool's freeform output) and ``Process exited with code N``
#: (unified exec: ``exec_command`` / ``write_stdin``), at the start of a line of the preamble.
EXIT_CODE = re.compile(r"^(?:Exit code:|Process exited with code)\s*(-?\d+)", re.M | re.I)
#: Sandbox denials and refusals: ``failed in sandbox <kind> with execution error: sandbox denied
#: exec error, exit code: N, ...``, ``exec command rejected by user``, ``patch rejected by user``.
DENIED = re.compile(
    r"^failed in sandbox|sandbox denied exec error|^(?:exec command|patch) rejected by user"
    r"|rejected by user approval settings",
    re.M,
)
SCRIPT_PREAMBLE = re.compile(r"^Script (?:completed|running[^\n]*)\nWall time")
SCRIPT_TRAILER = re.compile(r"^(?:exit_code=)?(-?\d{1,3})$")
HEADER_CHARS = 600


def sniff(head: Head) -> bool:
    first = head.first
    return first is not None and first.get("type") in RECORD_TYPES and "payload" in first


def parse(path: Path, *, source: str, builder: TraceBuilder) -> Trace:
    state = _State(builder)
    for record in json_records(path, builder):
        builder.saw_time(record.get("timestamp"))
        payload = record.get("payload")
        kind = record.get("type")
        if not isinstance(payload, dict) or kind not in RECORD_TYPES:
            builder.unknown[str(kind)] += 1
            continue
        if kind == "session_meta":
            builder.session_id = builder.session_id or payload.get("id")
        elif kind == "turn_context":
            builder.model = payload.get("model") or builder.model
        elif kind == "response_item":
            state.item(payload)
        elif kind == "event_msg":
            state.event(payload)
    return state.finish(source=source)


class _State:
    def __init__(self, builder: TraceBuilder) -> None:
        self.builder = builder
        self.calls: dict[str, str] = {}
        self.best: dict[str, Any] | None = None
        self.closed = [0, 0, 0]
        self.turns = 0

    def item(self, payload: dict[str, Any]) -> None:
        builder = self.builder
        kind = payload.get("type")
        if kind == "message":
            role = payload.get("role")
            if role in ("user", "assistant"):
                builder.step(str(role), text_of(payload.get("content")))
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            name = str(payload.get("name") or kind)
            if isinstance(payload.get("call_id"), str):
                self.calls[payload["call_id"]] = name
            builder.tool_call(name, payload.get("arguments") or payload.get("input"))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            called = self.calls.pop(str(payload.get("call_id")), "")
            output, failed = _output(payload.get("output"))
            builder.tool_result(called or None, output, is_error=failed)
        elif kind == "web_search_call":
            builder.tool_call("web_search", payload.get("action"))
        elif kind != "reasoning":
            builder.unknown[f"response_item/{kind}"] += 1

    def event(self, payload: dict[str, Any]) -> None:
        builder = self.builder
        kind = payload.get("type")
        if kind == "token_count":
            info = payload.get("info")
            total = info.get("total_token_usage") if isinstance(info, dict) else None
            if isinstance(total, dict) and (self.best is None or _size(total) != _size(self.best)):
                if self.best is not None and _size(total) < _size(self.best):
                    for i, value in enumerate(_triple(self.best)):
                        self.closed[i] += value
                self.best = total
                self.turns += 1
        elif kind == "task_complete":
            message = payload.get("last_agent_message")
            if isinstance(message, str):
                builder.result = message
        elif kind in ("error", "stream_error"):
            builder.is_error = True
            message = str(payload.get("message") or kind)
            builder.result = message
            builder.step("assistant", message, is_error=True)
        elif kind == "turn_aborted":
            builder.step("assistant", f"turn aborted: {payload.get('reason', '')}")
        elif kind not in QUIET_EVENTS:
            builder.unknown[f"event_msg/{kind}"] += 1

    def finish(self, *, source: str) -> Trace:
        builder = self.builder
        if self.best is not None:
            last = _triple(self.best)
            builder.input_tokens = self.closed[0] + last[0]
            builder.output_tokens = self.closed[1] + last[1]
            builder.cache_read_tokens = self.closed[2] + last[2]
        builder.turns = self.turns or None
        return builder.build(source=source)


def _size(usage: dict[str, Any]) -> int:
    total = as_int(usage.get("total_tokens"))
    if total is not None:
        return total
    return (as_int(usage.get("input_tokens")) or 0) + (as_int(usage.get("output_tokens")) or 0)


def _triple(usage: dict[str, Any]) -> tuple[int, int, int]:
    return (
        as_int(usage.get("input_tokens")) or 0,
        as_int(usage.get("output_tokens")) or 0,
        as_int(usage.get("cached_input_tokens")) or 0,
    )


def _output(raw: Any) -> tuple[str, bool]:
    """A tool output's text and whether it failed (see ``docs/traces.md`` for each rule)."""
    if isinstance(raw, dict):
        text = str(raw.get("output") or raw.get("content") or "")
        return text, bool(raw.get("success") is False) or _text_failed(text)
    if isinstance(raw, list):  # 2026: a list of content items
        return _items(raw)
    text = raw if isinstance(raw, str) else json.dumps(raw)
    try:
        wrapped = json.loads(text) if text.startswith("{") else None
    except ValueError:
        wrapped = None
    if isinstance(wrapped, dict) and "output" in wrapped:  # CLI 0.40: JSON with metadata
        metadata = wrapped.get("metadata")
        code = as_int(metadata.get("exit_code")) if isinstance(metadata, dict) else None
        return str(wrapped["output"]), bool(code)
    return text, _text_failed(text)


def _items(items: list[Any]) -> tuple[str, bool]:
    """Content items (``input_text`` blocks): code mode's ``exec`` writes a preamble block, the
    output, and a last block holding only the exit code (``exit_code=1`` or ``1``)."""
    texts = [str(item.get("text") or "") for item in items if isinstance(item, dict)]
    text = "\n".join(texts)
    if len(texts) >= 3 and SCRIPT_PREAMBLE.match(texts[0]):
        trailer = SCRIPT_TRAILER.match(texts[-1].strip())
        if trailer:
            return "\n".join(texts[1:-1]), int(trailer.group(1)) != 0
    return text, _text_failed(text)


def _text_failed(text: str) -> bool:
    """A failure the output states in words, read from its preamble (the lines before
    ``Output:``), so that a command's own output cannot trigger it."""
    head = text[:HEADER_CHARS].split("\nOutput:", 1)[0]
    match = EXIT_CODE.search(head)
    if match:
        return int(match.group(1)) != 0
    return bool(DENIED.search(head))
