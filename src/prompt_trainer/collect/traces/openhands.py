"""OpenHands: a trajectory (a JSON array of events ``{id, timestamp, source, action |
observation, args | content, extras, tool_call_metadata}``) or an evaluation/resolver
``output.jsonl`` (one object per instance with ``history``, ``metrics``, ``error``). Older
histories write the event fields flat (``{"action": "run", "command": ...}``); both are read.

Actions other than conversation bookkeeping are tool calls; an ``error`` or ``user_rejected``
observation, a command observation with a non-zero exit code (structured, or the
``[... exit code N]`` suffix), or an observation opening with a rejected-edit banner is a tool
error (rules and sources in ``docs/traces.md``). Cost and tokens come from
``metrics`` (summed over instances when a file holds several) or from the events' own
``llm_metrics``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prompt_trainer.collect.traces._builder import Head, TraceBuilder, as_float, as_int, obj
from prompt_trainer.collect.traces._reader import json_records
from prompt_trainer.models import Trace

NAME = "openhands"
#: Actions that are conversation or state, not tool use.
NOT_TOOLS = frozenset(
    {"message", "finish", "system", "recall", "think", "change_agent_state", "null", "reject"}
)
QUIET_OBSERVATIONS = frozenset({"agent_state_changed", "null", "recall", "think"})
#: Observation texts that say an edit was rejected or a command failed (``docs/traces.md``):
#: the agent-skills lint and match banners, the file editor's ``ERROR:`` prefix, and the exit
#: code suffixes of command observations.
REJECTED = re.compile(
    r"^\s*\[?Your proposed edit has introduced new syntax error\(s\)"
    r"|^\s*\[?No exact match found in |^ERROR:\n"
)
EXIT_SUFFIX = re.compile(
    r"\[(?:The command completed with exit code|Command finished with exit code) (-?\d+)\.?\]"
)
FAILED_OBSERVATIONS = frozenset({"error", "user_rejected"})
RESOLVER = re.compile(r'^\s*\{\s*"(issue|instance_id|instruction|instance)"\s*:')


def sniff(head: Head) -> bool:
    first = head.first
    if first is not None and head.container == "array":
        return ("action" in first or "observation" in first) and (
            "source" in first or "id" in first or "args" in first
        )
    if first is not None:
        return "history" in first and bool({"instruction", "metrics", "instance_id"} & set(first))
    return bool(RESOLVER.match(head.text)) and '"history"' in head.text


def parse(path: Path, *, source: str, builder: TraceBuilder) -> Trace:
    state = _State(builder)
    for record in json_records(path, builder):
        if isinstance(record.get("history"), list):
            state.instance(record)
        else:
            state.event(record)
    return state.finish(source=source)


class _State:
    def __init__(self, builder: TraceBuilder) -> None:
        self.builder = builder
        self.turns = 0
        self.metrics_cost: float | None = None
        self.event_cost: float | None = None

    def instance(self, record: dict[str, Any]) -> None:
        builder = self.builder
        for event in record["history"]:
            if isinstance(event, dict):
                self.event(event)
        metrics = record.get("metrics")
        if isinstance(metrics, dict):
            cost = as_float(metrics.get("accumulated_cost"))
            if cost is not None:
                self.metrics_cost = (self.metrics_cost or 0.0) + cost
            usage = metrics.get("accumulated_token_usage")
            if isinstance(usage, dict):
                builder.add_usage(
                    usage,
                    "prompt_tokens",
                    "completion_tokens",
                    "cache_read_tokens",
                    "cache_write_tokens",
                )
        if record.get("error"):
            builder.is_error = True
            builder.result = str(record["error"])
        elif record.get("success") is False:
            builder.is_error = True
        builder.session_id = builder.session_id or _str(record.get("instance_id"))

    def event(self, event: dict[str, Any]) -> None:
        builder = self.builder
        builder.saw_time(event.get("timestamp"))
        metrics = event.get("llm_metrics")
        if isinstance(metrics, dict) and as_float(metrics.get("accumulated_cost")) is not None:
            self.event_cost = as_float(metrics.get("accumulated_cost"))
        args = obj(event.get("args")) or event
        if "action" in event:
            self._action(event, str(event["action"]), args)
        elif "observation" in event:
            self._observation(event, str(event["observation"]), event)
        else:
            builder.unknown["event without action or observation"] += 1

    def _action(self, event: dict[str, Any], action: str, args: dict[str, Any]) -> None:
        builder = self.builder
        source = event.get("source")
        text = str(event.get("message") or args.get("content") or args.get("thought") or "")
        if action == "message":
            # Old flat histories have no ``source``: the opening message is the user's.
            agent = source == "agent" or (source is None and builder.steps_seen > 0)
            if agent:
                self.turns += 1
            builder.step("assistant" if agent else "user", text)
        elif action == "finish":
            self.turns += 1
            final = args.get("final_thought") or args.get("outputs") or text
            builder.result = str(final)
            builder.step("assistant", str(final))
        elif action in NOT_TOOLS:
            return
        else:
            self.turns += 1
            metadata = event.get("tool_call_metadata")
            name = metadata.get("function_name") if isinstance(metadata, dict) else None
            thought = args.get("thought")
            if isinstance(thought, str) and thought.strip():
                builder.step("assistant", thought)
            summary = args.get("command") or args.get("code") or args.get("path") or args.get("url")
            builder.tool_call(str(name or action), summary)

    def _observation(self, event: dict[str, Any], kind: str, flat: dict[str, Any]) -> None:
        if kind in QUIET_OBSERVATIONS:
            return
        extras = obj(event.get("extras"))
        metadata = obj(extras.get("metadata"))
        code = as_int(metadata.get("exit_code", extras.get("exit_code", flat.get("exit_code"))))
        content = str(event.get("content") or event.get("message") or "")
        if code is None:
            suffix = EXIT_SUFFIX.findall(content[-500:])
            code = int(suffix[-1]) if suffix else None
        failed = kind in FAILED_OBSERVATIONS or bool(code) or bool(REJECTED.search(content[:200]))
        self.builder.tool_result(kind, content, is_error=failed)

    def finish(self, *, source: str) -> Trace:
        builder = self.builder
        builder.cost_usd = self.metrics_cost if self.metrics_cost is not None else self.event_cost
        builder.turns = self.turns or None
        return builder.build(source=source)


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None
