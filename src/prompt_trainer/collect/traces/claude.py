"""Claude Code traces: session transcripts, ``stream-json`` output, ``json`` results, and
claude-code-action's execution file (a JSON array of the same messages).

One API response is written over several lines sharing ``message.id``; its usage is counted
once (the last record of each id wins). Unknown record and block types are skipped; a line that
is not JSON (e.g. a truncated last line) is skipped too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prompt_trainer.models import Trace, TraceStep
from prompt_trainer.redact import excerpt

RECORD_TYPES = ("user", "assistant", "system", "result", "summary", "file-history-snapshot")


def sniff(head: str) -> bool:
    """A JSON array or JSONL stream whose first object has a Claude Code record type."""
    stripped = head.lstrip()
    if stripped.startswith("["):
        return '"type"' in stripped[:4096] and any(f'"{t}"' in stripped for t in RECORD_TYPES)
    first = stripped.split("\n", 1)[0]
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("type") in RECORD_TYPES


def parse(path: Path, *, source: str, max_text: int) -> Trace:
    """Fold every record into totals and steps."""
    state = _State(max_text=max_text)
    for record in _records(path):
        state.add(record)
    return state.trace(source=source)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSON array file or of a JSONL file, line by line."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        first = handle.read(1)
        while first.isspace():
            first = handle.read(1)
        handle.seek(0)
        if first == "[":
            data = json.load(handle)
            yield from (r for r in data if isinstance(r, dict))
            return
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


class _State:
    """Accumulates a trace while records stream past."""

    def __init__(self, *, max_text: int) -> None:
        self.max_text = max_text
        self.steps: list[TraceStep] = []
        self.usage_by_message: dict[str, dict[str, Any]] = {}
        self.tool_calls = 0
        self.tool_errors = 0
        self.model: str | None = None
        self.session_id: str | None = None
        self.result: dict[str, Any] | None = None

    def add(self, record: dict[str, Any]) -> None:
        self.session_id = self.session_id or record.get("session_id") or record.get("sessionId")
        kind = record.get("type")
        if kind == "system" and record.get("subtype") == "init":
            self.model = self.model or record.get("model")
        elif kind == "assistant":
            self._assistant(record.get("message") or {})
        elif kind == "user":
            self._user(record.get("message") or {})
        elif kind == "result":
            self.result = record

    def _assistant(self, message: dict[str, Any]) -> None:
        self.model = message.get("model") or self.model
        key = str(message.get("id") or len(self.usage_by_message))
        if isinstance(message.get("usage"), dict):
            self.usage_by_message[key] = message["usage"]
        for block in _blocks(message.get("content")):
            if block.get("type") == "tool_use":
                self.tool_calls += 1
                summary = json.dumps(block.get("input"), ensure_ascii=False)[:300]
                self._step("assistant", summary, tool=str(block.get("name")))
            elif block.get("type") == "text":
                self._step("assistant", str(block.get("text", "")))

    def _user(self, message: dict[str, Any]) -> None:
        content = message.get("content")
        if isinstance(content, str):
            self._step("user", content)
            return
        for block in _blocks(content):
            if block.get("type") == "tool_result":
                failed = bool(block.get("is_error"))
                self.tool_errors += failed
                self._step("tool", _text(block.get("content")), is_error=failed)
            elif block.get("type") == "text":
                self._step("user", str(block.get("text", "")))

    def _step(
        self, role: str, text: str, *, tool: str | None = None, is_error: bool = False
    ) -> None:
        self.steps.append(
            TraceStep(role=role, text=excerpt(text, self.max_text), tool=tool, is_error=is_error)
        )

    def trace(self, *, source: str) -> Trace:
        result = self.result or {}
        usages = list(self.usage_by_message.values()) or [result.get("usage") or {}]
        duration = result.get("duration_ms")
        assistant_turns = len(self.usage_by_message) or None
        return Trace(
            source=source,
            format="claude-code",
            model=self.model,
            session_id=self.session_id,
            steps=tuple(self.steps),
            turns=result.get("num_turns") or assistant_turns,
            tool_calls=self.tool_calls,
            tool_errors=self.tool_errors,
            input_tokens=_sum(usages, "input_tokens"),
            output_tokens=_sum(usages, "output_tokens"),
            cost_usd=result.get("total_cost_usd"),
            duration_s=duration / 1000 if isinstance(duration, int | float) else None,
            result=excerpt(str(result["result"]), self.max_text) if "result" in result else None,
            is_error=bool(result.get("is_error")),
        )


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text")


def _sum(usages: list[dict[str, Any]], key: str) -> int | None:
    values = [u[key] for u in usages if isinstance(u.get(key), int)]
    return sum(values) if values else None
