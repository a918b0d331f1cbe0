"""``codex exec --json`` events: ``thread.started``, ``turn.started``/``completed``/``failed``,
``item.started``/``updated``/``completed`` (reasoning, command_execution, file_change,
mcp_tool_call, web_search, agent_message, todo_list, error) and ``error``.

Each ``turn.completed`` carries that turn's usage; they are summed. Items are counted when
completed; a command with a non-zero exit code, or any item whose status is ``failed`` or
``declined`` (refused by the user or the approval policy), is a tool error. Unknown event and
item types are counted and skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prompt_trainer.collect.traces._builder import Head, TraceBuilder, as_int, json_records
from prompt_trainer.models import Trace

NAME = "codex-exec"
PREFIXES = ("thread.", "turn.", "item.")
QUIET_ITEMS = frozenset({"reasoning", "todo_list"})


def sniff(head: Head) -> bool:
    first = head.first
    kind = first.get("type") if first is not None else None
    return isinstance(kind, str) and kind.startswith(PREFIXES) and "payload" not in (first or {})


def parse(path: Path, *, source: str, builder: TraceBuilder) -> Trace:
    turns = 0
    for event in json_records(path, builder):
        kind = event.get("type")
        if kind == "thread.started":
            builder.session_id = event.get("thread_id")
        elif kind == "turn.completed":
            turns += 1
            usage = event.get("usage")
            if isinstance(usage, dict):
                builder.add_usage(usage, "input_tokens", "output_tokens", "cached_input_tokens")
        elif kind in ("turn.failed", "error"):
            turns += kind == "turn.failed"
            error = event.get("error")
            message = error.get("message") if isinstance(error, dict) else event.get("message")
            builder.is_error = True
            builder.result = str(message or kind)
            builder.step("assistant", builder.result, is_error=True)
        elif kind == "item.completed":
            _item(builder, event.get("item"))
        elif kind not in ("turn.started", "item.started", "item.updated"):
            builder.unknown[str(kind)] += 1
    builder.turns = turns or None
    return builder.build(source=source)


def _item(builder: TraceBuilder, item: Any) -> None:
    if not isinstance(item, dict):
        return
    kind = item.get("type")
    failed = item.get("status") in ("failed", "declined")
    if kind == "agent_message":
        text = str(item.get("text") or "")
        builder.step("assistant", text)
        builder.result = text
    elif kind == "command_execution":
        builder.tool_call("shell", item.get("command"))
        code = as_int(item.get("exit_code"))
        output = str(item.get("aggregated_output") or "")
        builder.tool_result("shell", output, is_error=failed or bool(code))
    elif kind == "file_change":
        builder.tool_call("apply_patch", item.get("changes"))
        if failed:
            builder.tool_result("apply_patch", "patch failed", is_error=True)
    elif kind == "mcp_tool_call":
        name = f"mcp__{item.get('server', '')}__{item.get('tool', '')}"
        builder.tool_call(name, item.get("arguments"))
        error = item.get("error")
        if failed or error:
            builder.tool_result(name, str(error or "failed"), is_error=True)
    elif kind == "web_search":
        builder.tool_call("web_search", item.get("query"))
    elif kind == "error":
        builder.step("assistant", str(item.get("message") or "error"), is_error=True)
    elif kind not in QUIET_ITEMS:
        builder.unknown[f"item/{kind}"] += 1
