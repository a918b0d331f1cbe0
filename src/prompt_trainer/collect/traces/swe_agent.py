"""SWE-agent trajectories (``.traj``): one JSON object with ``history`` (chat messages),
``trajectory`` (action/observation/thought steps), ``info`` (``exit_status``, ``submission``,
``model_stats``) and ``replay_config``. Demonstrations may hold only ``history``.

Totals come from ``info.model_stats`` (``instance_cost``, ``tokens_sent``, ``tokens_received``,
``api_calls``); a run that did not end in a submission (``exit_cost``, ``exit_context``,
``exit_error``...) ended in error. Steps come from ``history`` (or ``trajectory`` when there is
no history): each assistant ``action`` is a tool call, named by its first word.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prompt_trainer.collect.traces._builder import (
    Head,
    TraceBuilder,
    as_float,
    as_int,
    load_document,
    obj,
    text_of,
)
from prompt_trainer.models import Trace

NAME = "swe-agent"
TOP_KEYS = re.compile(r'^\s*\{\s*"(environment|trajectory|history|info|replay_config)"\s*:')


def sniff(head: Head) -> bool:
    first = head.first
    if head.container == "object" and first is not None:
        return "trajectory" in first or ("history" in first and "instruction" not in first)
    return head.container != "array" and bool(TOP_KEYS.match(head.text))


def parse(path: Path, *, source: str, builder: TraceBuilder) -> Trace:
    data = load_document(path)
    if not isinstance(data, dict):
        raise ValueError("a SWE-agent trajectory is a JSON object")
    history = data.get("history") if isinstance(data.get("history"), list) else []
    if history:
        assistant = _history(builder, history)
    else:
        assistant = _trajectory(builder, data.get("trajectory") or [])
    info = obj(data.get("info"))
    stats = obj(info.get("model_stats"))
    builder.cost_usd = as_float(stats.get("instance_cost"))
    builder.input_tokens = as_int(stats.get("tokens_sent"))
    builder.output_tokens = as_int(stats.get("tokens_received"))
    builder.turns = as_int(stats.get("api_calls")) or assistant or None
    status = info.get("exit_status")
    if isinstance(status, str):
        builder.result = status
        builder.is_error = not status.startswith("submitted")
    builder.model = _model(data.get("replay_config"))
    return builder.build(source=source)


def _history(builder: TraceBuilder, history: list[Any]) -> int:
    assistant = 0
    for message in history:
        if not isinstance(message, dict):
            builder.unknown["non-object message"] += 1
            continue
        role = message.get("role")
        text = text_of(message.get("content"))
        if role == "assistant":
            assistant += 1
            _act(builder, message.get("thought") or text, message.get("action"))
        elif role == "tool" or message.get("message_type") == "observation":
            builder.tool_result(None, text, is_error=False)
        elif role == "user":
            builder.step("user", text)
        elif role != "system":
            builder.unknown[f"role/{role}"] += 1
    return assistant


def _trajectory(builder: TraceBuilder, steps: list[Any]) -> int:
    count = 0
    for step in steps:
        if isinstance(step, dict):
            count += 1
            _act(builder, step.get("thought") or step.get("response"), step.get("action"))
            builder.tool_result(None, str(step.get("observation") or ""), is_error=False)
    return count


def _act(builder: TraceBuilder, thought: Any, action: Any) -> None:
    if isinstance(thought, str) and thought.strip():
        builder.step("assistant", thought)
    if isinstance(action, str) and action.strip():
        builder.tool_call(action.split()[0], action)


def _model(config: Any) -> str | None:
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return None
    if not isinstance(config, dict):
        return None
    agent = obj(config.get("agent"))
    model = obj(agent.get("model"))
    name = model.get("name") or model.get("model_name")
    return name if isinstance(name, str) else None
