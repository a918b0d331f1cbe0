"""Claude Code: session transcripts (JSONL), ``claude -p --output-format stream-json`` and
``json``, and claude-code-action's execution file (a JSON array of the stream-json messages).

One API response is written over several lines sharing ``message.id``, each with a usage
object; its usage is counted once (the last line of each id wins). Lines of one response are
adjacent, so only a window of recent ids is remembered (bounded memory on huge transcripts).
When a ``result`` record carries the session's usage, that is used instead of the sum. A tool
result is an error when it says so (``is_error``) or when its text is Claude Code's error wrapper
or a permission denial; the ``result``'s ``permission_denials`` add those not already counted.
Unknown record types are counted and skipped; ``isMeta`` user lines (CLI caveats) are skipped.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from prompt_trainer.collect.traces._builder import Head, TraceBuilder, as_float, as_int, text_of
from prompt_trainer.collect.traces._reader import json_records
from prompt_trainer.models import Trace

NAME = "claude-code"
MESSAGE_TYPES = frozenset({"user", "assistant", "system", "result"})
#: Record types that carry nothing for the trainer.
IGNORED_TYPES = frozenset({"summary", "file-history-snapshot", "queue-operation", "progress"})
USAGE_WINDOW = 256
#: A tool result that says the tool did not run, even without ``is_error``: Claude Code's error
#: wrapper and its permission-denial texts (see ``docs/traces.md``).
DENIALS = (
    "haven't granted it yet",
    "doesn't want to proceed with this tool use",
    "tool use was rejected",
)
ERROR_WRAPPER = "<tool_use_error>"
#: Errored tool_use ids remembered so a ``permission_denials`` entry is not counted twice.
ERROR_IDS = 10_000


def sniff(head: Head) -> bool:
    """The first record is a Claude Code message (or a transcript bookkeeping record)."""
    first = head.first
    if first is None:
        return False
    kind = first.get("type")
    if kind in IGNORED_TYPES:
        return True
    if kind not in MESSAGE_TYPES:
        return False
    return "message" in first or "subtype" in first or kind == "result"


def parse(path: Path, *, source: str, builder: TraceBuilder) -> Trace:
    state = _State(builder)
    for record in json_records(path, state.builder):
        state.add(record)
    return state.finish(source=source)


class _State:
    def __init__(self, builder: TraceBuilder) -> None:
        self.builder = builder
        self.recent: OrderedDict[str, tuple[int, int, int, int]] = OrderedDict()
        self.totals = [0, 0, 0, 0]
        self.usage_seen = False
        self.responses = 0
        self.tool_names: dict[str, str] = {}
        self.result: dict[str, Any] | None = None
        self.anonymous = 0
        self.error_ids: set[str] = set()

    def add(self, record: dict[str, Any]) -> None:
        builder = self.builder
        if builder.session_id is None:
            builder.session_id = record.get("session_id") or record.get("sessionId")
        stamp = record.get("timestamp")
        if stamp is not None:
            builder.saw_time(stamp)
        kind = record.get("type")
        if kind == "assistant":
            self._assistant(record.get("message"))
        elif kind == "user":
            if not record.get("isMeta"):
                self._user(record.get("message"))
        elif kind == "system":
            if record.get("subtype") == "init":
                builder.model = builder.model or record.get("model")
        elif kind == "result":
            self.result = record
        elif kind not in IGNORED_TYPES:
            builder.unknown[str(kind)] += 1

    def _assistant(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        model = message.get("model")
        if isinstance(model, str) and model != "<synthetic>":
            self.builder.model = model
        usage = message.get("usage")
        message_id = message.get("id")
        if not isinstance(message_id, str):
            self.anonymous += 1
            message_id = f"#anonymous-{self.anonymous}"
        output = self._usage(message_id, usage if isinstance(usage, dict) else None)
        for block in _blocks(message.get("content")):
            kind = block.get("type")
            if kind == "tool_use":
                name = str(block.get("name") or "tool")
                if isinstance(block.get("id"), str):
                    self.tool_names[block["id"]] = name
                self.builder.tool_call(name, block.get("input"), tokens=output)
            elif kind == "text":
                self.builder.step("assistant", str(block.get("text") or ""), tokens=output)

    def _usage(self, message_id: str, usage: dict[str, Any] | None) -> int | None:
        """Count the response once and remember this line's usage for it (the last line of
        an id wins)."""
        recent = self.recent
        if message_id not in recent:
            self.responses += 1
        elif usage is None:
            return None
        if usage is None:
            values = self.recent.get(message_id, (0, 0, 0, 0))
        else:
            self.usage_seen = True
            values = (
                _count(usage.get("input_tokens")),
                _count(usage.get("output_tokens")),
                _count(usage.get("cache_read_input_tokens")),
                _count(usage.get("cache_creation_input_tokens")),
            )
        if message_id in recent:
            recent.move_to_end(message_id)
        recent[message_id] = values
        if len(recent) > USAGE_WINDOW:
            _, old = recent.popitem(last=False)
            self._commit(old)
        return values[1] if usage is not None else None

    def _commit(self, values: tuple[int, int, int, int]) -> None:
        totals = self.totals
        totals[0] += values[0]
        totals[1] += values[1]
        totals[2] += values[2]
        totals[3] += values[3]

    def _user(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        content = message.get("content")
        if isinstance(content, str):
            self.builder.step("user", content)
            return
        for block in _blocks(content):
            kind = block.get("type")
            if kind == "tool_result":
                use_id = str(block.get("tool_use_id"))
                name = self.tool_names.pop(use_id, None)
                output = text_of(block.get("content"))
                failed = bool(block.get("is_error")) or _denied(output)
                if failed and len(self.error_ids) < ERROR_IDS:
                    self.error_ids.add(use_id)
                self.builder.tool_result(name, output, is_error=failed)
            elif kind == "text":
                self.builder.step("user", str(block.get("text") or ""))

    def finish(self, *, source: str) -> Trace:
        builder = self.builder
        for values in self.recent.values():
            self._commit(values)
        if self.usage_seen:
            builder.add_tokens(
                input=self.totals[0],
                output=self.totals[1],
                cache_read=self.totals[2],
                cache_write=self.totals[3],
            )
        builder.turns = self.responses or None
        result = self.result
        if result is not None:
            self._result(result)
        return builder.build(source=source)

    def _result(self, result: dict[str, Any]) -> None:
        builder = self.builder
        usage = result.get("usage")
        if isinstance(usage, dict):  # the session's own total: trust it over the sum
            builder.input_tokens = as_int(usage.get("input_tokens"))
            builder.output_tokens = as_int(usage.get("output_tokens"))
            builder.cache_read_tokens = as_int(usage.get("cache_read_input_tokens"))
            builder.cache_write_tokens = as_int(usage.get("cache_creation_input_tokens"))
        builder.turns = as_int(result.get("num_turns")) or builder.turns
        builder.cost_usd = as_float(result.get("total_cost_usd"))
        duration = as_float(result.get("duration_ms"))
        if duration is not None:
            builder.duration_s = duration / 1000
        if isinstance(result.get("result"), str):
            builder.result = result["result"]
        self._denials(result.get("permission_denials"))
        subtype = str(result.get("subtype") or "")
        builder.is_error = bool(result.get("is_error")) or subtype.startswith("error")
        if builder.is_error and builder.result is None:
            builder.result = subtype or "error"

    def _denials(self, denials: Any) -> None:
        """Tools the permission mode refused, as the ``result`` lists them; each is a tool
        error unless its ``tool_result`` already was one."""
        for denial in denials if isinstance(denials, list) else []:
            if not isinstance(denial, dict):
                continue
            if str(denial.get("tool_use_id")) in self.error_ids:
                continue
            name = str(denial.get("tool_name") or "tool")
            self.builder.tool_result(name, f"permission denied: {name}", is_error=True)


def _count(value: Any) -> int:
    """A token count, 0 when absent (plain ints skip ``as_int``'s checks: this runs per line)."""
    if type(value) is int:
        return value
    return as_int(value) or 0


def _denied(output: str) -> bool:
    """Claude Code's error wrapper or a permission denial, in a result's opening text (plain
    substring tests: a regex here cost a tenth of a 200 MB transcript's parse)."""
    head = output[:2_000]
    return head.lstrip().startswith(ERROR_WRAPPER) or any(text in head for text in DENIALS)


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
